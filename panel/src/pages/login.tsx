import { useState } from "react";
import { ApiError } from "../api";
import { navigate, useLocation } from "../router";
import { homeOf, useSession } from "../session";
import type { Me } from "../types";
import { FormError, TextField, useForm } from "../ui";

/** Goes on to `?next=` when it lies in the user's area (same-origin paths only), else to the user's area. */
function goOn(me: Me, next: string): void {
  navigate(next.startsWith(me.platformRole ? "/admin" : "/client") ? next : homeOf(me), true);
}

/** The second step for an account with TOTP: a 6-digit code from the app, or a recovery code. */
function SecondFactorForm({ mfaToken, next, onRestart }: { mfaToken: string; next: string; onRestart(): void }) {
  const { completeMfa } = useSession();
  const form = useForm();
  const [recovery, setRecovery] = useState(false);
  const [value, setValue] = useState("");
  const field = recovery ? "recoveryCode" : "code";
  const submit = form.submit(async () => {
    try {
      goOn(await completeMfa(mfaToken, recovery ? { recoveryCode: value.trim() } : { code: value.trim() }), next);
    } catch (error) {
      // A wrong code is a 401 without details: it belongs to the field all the same.
      if (error instanceof ApiError && error.status === 401) throw new ApiError(401, error.code, error.message, [{ field, message: "wrong or expired code" }]);
      throw error;
    }
  });
  return (
    <form onSubmit={(e) => void submit(e)} className="card" aria-labelledby="mfa-title">
      <h1 id="mfa-title">Two-factor authentication</h1>
      <p className="muted">{recovery ? "Enter one of the recovery codes you saved when you set up two-factor authentication." : "Enter the 6-digit code from your authenticator app."}</p>
      {recovery
        ? <TextField key="recovery" form={form} name="recoveryCode" label="Recovery code" autoComplete="off" required autoFocus value={value} onChange={(e) => setValue(e.target.value)} />
        : <TextField key="code" form={form} name="code" label="Authentication code" inputMode="numeric" autoComplete="one-time-code" pattern="[0-9]{6}" maxLength={6} required autoFocus value={value} onChange={(e) => setValue(e.target.value)} />}
      <FormError form={form} />
      <button type="submit" className="primary" disabled={form.busy}>{form.busy ? "Checking…" : "Verify"}</button>
      <button type="button" onClick={() => { setRecovery(!recovery); setValue(""); }}>{recovery ? "Use the authenticator app" : "Use a recovery code"}</button>
      <button type="button" onClick={onRestart}>Start over</button>
    </form>
  );
}

/** Sign in with email and password, then a second factor when the account has TOTP; goes on to `?next=` or the user's area. */
export function LoginPage() {
  const { signIn } = useSession();
  const { search } = useLocation();
  const form = useForm();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [mfaToken, setMfaToken] = useState<string | null>(null);
  const next = search.get("next") ?? "";
  const submit = form.submit(async () => {
    const answer = await signIn(email, password);
    if ("mfaToken" in answer) {
      setPassword("");
      setMfaToken(answer.mfaToken);
    } else {
      goOn(answer.me, next);
    }
  });
  if (mfaToken) return <main className="login" id="main"><SecondFactorForm mfaToken={mfaToken} next={next} onRestart={() => setMfaToken(null)} /></main>;
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
