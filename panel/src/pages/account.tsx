import { useState } from "react";
import { api, ApiError } from "../api";
import { useResource } from "../hooks";
import { useSession } from "../session";
import type { Me, SessionRow, TotpEnrollment } from "../types";
import { Badge, Empty, FormError, PageHeader, TextField, useConfirm, useForm, useToast, When } from "../ui";

/** A field error raised in the browser (before the API is asked), shown like the API's own. */
export function fieldError(field: string, message: string): ApiError {
  return new ApiError(400, "validation", `${field}: ${message}`, [{ field, message }]);
}

/** Recovery codes, shown once after TOTP is turned on. */
function RecoveryCodes({ codes }: { codes: string[] }) {
  return (
    <div className="secret" role="group" aria-label="Recovery codes">
      <p><strong>Recovery codes</strong> — shown once; store them somewhere safe. Each signs you in once without the app.</p>
      <ul className="plain codes">{codes.map((c) => <li key={c}><code data-recovery-code>{c}</code></li>)}</ul>
    </div>
  );
}

/** TOTP enrolment (RFC 6238): start, show the secret and its otpauth URI, confirm with a code; or turn it off. */
function TwoFactor({ me }: { me: Me }) {
  const { refresh } = useSession();
  const toast = useToast();
  const start = useForm();
  const confirmForm = useForm();
  const disableForm = useForm();
  const [enrollment, setEnrollment] = useState<TotpEnrollment | null>(null);
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | null>(null);
  const [code, setCode] = useState("");
  const begin = start.submit(async () => setEnrollment(await api.enrollTotp()));
  const confirm = confirmForm.submit(async () => {
    const confirmed = await api.confirmTotp(code.trim());
    setRecoveryCodes(confirmed.recoveryCodes);
    setEnrollment(null);
    setCode("");
    toast("Two-factor authentication is on");
    await refresh();
  });
  const disable = disableForm.submit(async () => {
    await api.disableTotp({ code: code.trim() });
    setCode("");
    toast("Two-factor authentication is off");
    await refresh();
  });
  return (
    <section aria-labelledby="totp-title">
      <h2 id="totp-title">Two-factor authentication {me.mfaEnabled ? <Badge status="active" /> : <span className="muted">(off)</span>}</h2>
      {recoveryCodes && <RecoveryCodes codes={recoveryCodes} />}
      {me.mfaEnabled && !recoveryCodes && (
        <form className="inline-form" onSubmit={(e) => void disable(e)} aria-label="Turn off two-factor authentication">
          <TextField form={disableForm} name="code" label="Current code" inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} />
          <button type="submit" className="danger" disabled={disableForm.busy}>Turn off</button>
          <FormError form={disableForm} />
        </form>
      )}
      {!me.mfaEnabled && !enrollment && (
        <form onSubmit={(e) => void begin(e)} aria-label="Set up two-factor authentication">
          <p>Protect your account with a code from an authenticator app (any TOTP app: Aegis, Google Authenticator, 1Password, …).</p>
          <FormError form={start} />
          <button type="submit" className="primary" disabled={start.busy}>Set up two-factor authentication</button>
        </form>
      )}
      {enrollment && (
        <form onSubmit={(e) => void confirm(e)} aria-label="Confirm two-factor authentication">
          <ol>
            <li>In your authenticator app, add an account with this key (time-based, 6 digits, 30 s):
              <div className="secret"><code data-totp-secret>{enrollment.secret}</code></div>
              or <a href={enrollment.otpauthUri}>open it in the app on this device</a> (<code className="wrap" data-otpauth-uri>{enrollment.otpauthUri}</code>).
            </li>
            <li>Enter the code the app shows.</li>
          </ol>
          <TextField form={confirmForm} name="code" label="Code from the app" inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} />
          <FormError form={confirmForm} />
          <button type="submit" className="primary" disabled={confirmForm.busy}>Turn on</button>
        </form>
      )}
    </section>
  );
}

/** Password change: the current password, a new one twice; the API signs out the other sessions. */
function ChangePassword() {
  const toast = useToast();
  const form = useForm();
  const [fields, setFields] = useState({ currentPassword: "", newPassword: "", confirmPassword: "" });
  const set = (name: keyof typeof fields) => (e: { target: { value: string } }) => setFields({ ...fields, [name]: e.target.value });
  const submit = form.submit(async () => {
    if (fields.newPassword !== fields.confirmPassword) throw fieldError("confirmPassword", "does not match the new password");
    const result = await api.changePassword({ currentPassword: fields.currentPassword, newPassword: fields.newPassword });
    setFields({ currentPassword: "", newPassword: "", confirmPassword: "" });
    toast(`Password changed; ${result.revokedSessions} other session${result.revokedSessions === 1 ? "" : "s"} signed out`);
  });
  return (
    <section aria-labelledby="password-title">
      <h2 id="password-title">Password</h2>
      <form onSubmit={(e) => void submit(e)} aria-label="Change password">
        <TextField form={form} name="currentPassword" label="Current password" type="password" autoComplete="current-password" required value={fields.currentPassword} onChange={set("currentPassword")} />
        <TextField form={form} name="newPassword" label="New password" type="password" autoComplete="new-password" hint="at least 12 characters" required value={fields.newPassword} onChange={set("newPassword")} />
        <TextField form={form} name="confirmPassword" label="Repeat the new password" type="password" autoComplete="new-password" required value={fields.confirmPassword} onChange={set("confirmPassword")} />
        <FormError form={form} />
        <button type="submit" className="primary" disabled={form.busy}>Change password</button>
      </form>
    </section>
  );
}

/** The user's active sessions; revoking one (asks first) signs that browser or client out. */
function Sessions() {
  const confirm = useConfirm();
  const toast = useToast();
  const sessions = useResource(() => api.sessions(), "sessions");
  const revoke = async (s: SessionRow): Promise<void> => {
    const body = s.current ? "This is the session you are using: you will be signed out here." : "That browser or client is signed out at its next request.";
    if (!(await confirm({ title: "Sign this session out?", body, action: "Revoke session" }))) return;
    await api.revokeSession(s.id).then(() => toast("Session revoked"), (e: Error) => toast(e.message, "error"));
    sessions.reload();
  };
  return (
    <section aria-labelledby="sessions-title">
      <h2 id="sessions-title">Sessions</h2>
      {sessions.error && <p className="form-error" role="alert">{sessions.error}</p>}
      {sessions.data && (sessions.data.length === 0 ? <Empty title="No active sessions" /> : (
        <div className="table-wrap">
          <table>
            <thead><tr><th>Signed in</th><th>Expires</th><th>Address</th><th>Client</th><th><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {sessions.data.map((s) => (
                <tr key={s.id} data-session={s.id}>
                  <td><When at={s.createdAt} /> {s.current && <Badge status="current" />} {s.impersonatedBy && <span className="badge badge-busy">impersonated</span>}</td>
                  <td><When at={s.expiresAt} /></td>
                  <td><code>{s.ip ?? "—"}</code></td>
                  <td className="wrap muted">{s.userAgent ?? "—"}</td>
                  <td><button type="button" className="danger-quiet" onClick={() => void revoke(s)}>Revoke</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </section>
  );
}

/** The signed-in user's security settings: two-factor, password, sessions (only two-factor while policy requires its setup). */
export function AccountPage() {
  const { me } = useSession();
  if (!me) return null;
  return (
    <>
      <PageHeader title="Account security" />
      {me.mfaSetupRequired && <p className="form-error" role="alert">Your role requires two-factor authentication. Set it up to continue.</p>}
      <TwoFactor me={me} />
      {!me.mfaSetupRequired && <ChangePassword />}
      {!me.mfaSetupRequired && <Sessions />}
    </>
  );
}
