import { createContext, useCallback, useContext, useEffect, useId, useRef, useState, type FormEvent, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from "react";
import { ApiError } from "./api";
import type { FieldIssue } from "./types";

/* ---------- toasts ---------- */

type ToastKind = "ok" | "error";
interface Toast { id: number; kind: ToastKind; text: string }
const ToastContext = createContext<(text: string, kind?: ToastKind) => void>(() => undefined);

/** Shows short messages in a polite live region; each disappears after 5 s. */
export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(0);
  const show = useCallback((text: string, kind: ToastKind = "ok") => {
    const id = ++next.current;
    setToasts((all) => [...all, { id, kind, text }]);
    window.setTimeout(() => setToasts((all) => all.filter((t) => t.id !== id)), 5000);
  }, []);
  return (
    <ToastContext.Provider value={show}>
      {children}
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((t) => <div key={t.id} className={`toast toast-${t.kind}`}>{t.text}</div>)}
      </div>
    </ToastContext.Provider>
  );
}

/** `toast(text, kind?)` of the nearest ToastProvider. */
export const useToast = () => useContext(ToastContext);

/* ---------- confirmation ---------- */

/** What a confirmation asks: a title, an explanation and the label of the (destructive) action. */
export interface ConfirmRequest { title: string; body: string; action: string }
const ConfirmContext = createContext<(request: ConfirmRequest) => Promise<boolean>>(async () => false);

/** A modal `<dialog>` asking before destructive actions (Esc or Cancel refuses; focus starts on Cancel). */
export function ConfirmProvider({ children }: { children: ReactNode }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [request, setRequest] = useState<ConfirmRequest | null>(null);
  const resolver = useRef<(ok: boolean) => void>(() => undefined);
  const ask = useCallback((next: ConfirmRequest) => new Promise<boolean>((resolve) => {
    resolver.current = resolve;
    setRequest(next);
  }), []);
  useEffect(() => {
    if (request && !dialog.current?.open) dialog.current?.showModal();
  }, [request]);
  const close = (ok: boolean): void => {
    dialog.current?.close();
    setRequest(null);
    resolver.current(ok);
  };
  return (
    <ConfirmContext.Provider value={ask}>
      {children}
      <dialog ref={dialog} className="dialog" aria-labelledby="confirm-title" onCancel={(e) => { e.preventDefault(); close(false); }}>
        {request && (
          <>
            <h2 id="confirm-title">{request.title}</h2>
            <p>{request.body}</p>
            <div className="actions">
              <button type="button" autoFocus onClick={() => close(false)}>Cancel</button>
              <button type="button" className="danger" onClick={() => close(true)}>{request.action}</button>
            </div>
          </>
        )}
      </dialog>
    </ConfirmContext.Provider>
  );
}

/** `confirm(request)` resolving true when the user chose the action. */
export const useConfirm = () => useContext(ConfirmContext);

/* ---------- forms ---------- */

/** A form's state: field errors from the API's `details` (by field name), a form-level error, busy flag. */
export interface FormState {
  /** Prefix of the form's element ids (unique on the page). */
  id: string;
  errors: Record<string, string>;
  formError: string | null;
  busy: boolean;
  /** Runs `action`; an ApiError's details land on their fields, anything else in `formError` and a toast. */
  submit(action: () => Promise<void>): (event?: FormEvent) => Promise<void>;
}

/** Form state for one form. */
export function useForm(): FormState {
  const toast = useToast();
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const submit = (action: () => Promise<void>) => async (event?: FormEvent) => {
    event?.preventDefault();
    setBusy(true);
    setErrors({});
    setFormError(null);
    try {
      await action();
    } catch (error) {
      const details: FieldIssue[] = error instanceof ApiError ? error.details : [];
      setErrors(Object.fromEntries(details.map((d) => [d.field, d.message])));
      const message = error instanceof Error ? error.message : String(error);
      setFormError(message);
      toast(message, "error");
    } finally {
      setBusy(false);
    }
  };
  return { id, errors, formError, busy, submit };
}

type FieldProps = { form: FormState; name: string; label: string; hint?: string };

function describedBy(id: string, error: string | undefined, hint: string | undefined): string | undefined {
  return [error ? `${id}-error` : "", hint ? `${id}-hint` : ""].filter(Boolean).join(" ") || undefined;
}

function FieldShell({ id, name, label, hint, error, children }: { id: string; name: string; label: string; hint?: string | undefined; error?: string | undefined; children: ReactNode }) {
  return (
    <div className={`field${error ? " has-error" : ""}`}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && <small id={`${id}-hint`}>{hint}</small>}
      {error && <p className="field-error" id={`${id}-error`} data-field={name}>{error}</p>}
    </div>
  );
}

/** A labelled input whose API error (the `details` entry with `field === name`) shows under it. */
export function TextField({ form, name, label, hint, ...input }: FieldProps & Omit<InputHTMLAttributes<HTMLInputElement>, "form">) {
  const error = form.errors[name];
  const id = `${form.id}-${name}`;
  return (
    <FieldShell id={id} name={name} label={label} hint={hint} error={error}>
      <input id={id} name={name} aria-invalid={error ? true : undefined} aria-describedby={describedBy(id, error, hint)} {...input} />
    </FieldShell>
  );
}

/** A labelled select with the same error placement as TextField. */
export function SelectField({ form, name, label, hint, options, ...select }: FieldProps & Omit<SelectHTMLAttributes<HTMLSelectElement>, "form"> & { options: Array<{ value: string; label: string }> }) {
  const error = form.errors[name];
  const id = `${form.id}-${name}`;
  return (
    <FieldShell id={id} name={name} label={label} hint={hint} error={error}>
      <select id={id} name={name} aria-invalid={error ? true : undefined} aria-describedby={describedBy(id, error, hint)} {...select}>
        {options.map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
      </select>
    </FieldShell>
  );
}

/** A labelled checkbox. */
export function CheckField({ name, label, checked, onChange }: { name: string; label: string; checked: boolean; onChange(value: boolean): void }) {
  const id = useId();
  return (
    <label className="check" htmlFor={id}>
      <input id={id} name={name} type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} /> {label}
    </label>
  );
}

/** The form's error that no field claimed (e.g. a conflict), shown above the buttons. */
export function FormError({ form }: { form: FormState }) {
  const fieldless = form.formError && Object.keys(form.errors).length === 0;
  return fieldless ? <p className="form-error" role="alert">{form.formError}</p> : null;
}

/* ---------- display ---------- */

/** A status as a coloured badge (`data-status` carries the raw value). */
export function Badge({ status }: { status: string }) {
  const tone = /^(succeeded|active|running|online|issued|paid|up)$/.test(status) ? "ok"
    : /^(failed|error|offline|revoked|suspended|canceled|void|locked|down|critical)$/.test(status) ? "bad" : "busy";
  return <span className={`badge badge-${tone}`} data-status={status}>{status}</span>;
}

/** What an empty list says, with an optional next step. */
export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return <div className="empty"><p><strong>{title}</strong></p>{children}</div>;
}

/** A date as local date and time; "—" for none. */
export function When({ at }: { at: string | null | undefined }) {
  if (!at) return <span className="muted">—</span>;
  const date = new Date(at);
  return <time dateTime={at} title={date.toISOString()}>{date.toLocaleString()}</time>;
}

/** A secret shown once, with a copy button. */
export function Secret({ label, value }: { label: string; value: string }) {
  const toast = useToast();
  const copy = async (): Promise<void> => {
    await navigator.clipboard.writeText(value).then(() => toast("Copied"), () => toast("Copy failed: select the text instead", "error"));
  };
  return (
    <div className="secret" role="group" aria-label={label}>
      <p><strong>{label}</strong> — shown once; store it now.</p>
      <code data-secret>{value}</code>
      <button type="button" onClick={() => void copy()}>Copy</button>
    </div>
  );
}

/** Previous/next for a `{ page, pageSize, total }` list. */
export function Pager({ page, pageSize, total, onPage }: { page: number; pageSize: number; total: number; onPage(page: number): void }) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  if (pages <= 1) return <p className="muted pager">{total} in total</p>;
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>Previous</button>
      <span>Page {page} of {pages} ({total})</span>
      <button type="button" disabled={page >= pages} onClick={() => onPage(page + 1)}>Next</button>
    </nav>
  );
}

/** A page's title row with optional actions. */
export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return <header className="page-header"><h1>{title}</h1><div className="actions">{children}</div></header>;
}

/** "Not found" for a record the API answered 404 to (other tenants' ids look exactly like this). */
export function NotFound({ what }: { what: string }) {
  return <div className="empty" role="alert"><h1>Not found</h1><p>No {what} with this id is visible to you.</p></div>;
}

/** What a detail page shows until its record is there: "Not found" after a 404, else the loading line (or the error). */
export function Pending({ resource, what }: { resource: { notFound: boolean; error: string | null }; what: string }) {
  return resource.notFound ? <NotFound what={what} /> : <p aria-busy="true">{resource.error ?? "Loading…"}</p>;
}
