import { useState } from "react";
import { navigate, useLocation } from "../router";
import { homeOf, useSession } from "../session";
import { FormError, TextField, useForm } from "../ui";

/** Sign in with email and password; goes on to `?next=` (same-origin paths only) or the user's area. */
export function LoginPage() {
  const { signIn } = useSession();
  const { search } = useLocation();
  const form = useForm();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const submit = form.submit(async () => {
    const me = await signIn(email, password);
    const next = search.get("next") ?? "";
    const allowed = next.startsWith(me.platformRole ? "/admin" : "/client");
    navigate(allowed ? next : homeOf(me), true);
  });
  return (
    <main className="login" id="main">
      <form onSubmit={(e) => void submit(e)} className="card" aria-labelledby="login-title">
        <h1 id="login-title">Sign in to mPanel</h1>
        <TextField form={form} name="email" label="Email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <TextField form={form} name="password" label="Password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        <FormError form={form} />
        <button type="submit" className="primary" disabled={form.busy}>{form.busy ? "Signing in…" : "Sign in"}</button>
      </form>
    </main>
  );
}
