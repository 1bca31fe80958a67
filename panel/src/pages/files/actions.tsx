import { useState, type ReactNode } from "react";
import { api, ApiError } from "../../api";
import type { FileEntry } from "../../types";
import { FormError, SelectField, TextField, useForm, useToast, type FormState } from "../../ui";
import type { FileJob } from "./job-progress";
import { baseName, formatMode, joinPath, modeLetters, parentOf, parseMode } from "./paths";

/** What the action panel above the listing shows: one form at a time. */
export type FileAction =
  | { kind: "mkdir" }
  | { kind: "rename" | "copy" | "chmod" | "extract"; path: string; entry: FileEntry }
  | { kind: "archive"; paths: string[] };

/** What every action form gets: the CloudPod, the folder on screen, and what to call when done. */
interface ActionProps {
  podId: string;
  dir: string;
  onDone(): void;
  onCancel(): void;
  onJob(job: FileJob): void;
}

/** Refuses the form with `message` on `field` (shown under it, like the API's own field errors). */
function refuse(field: string, message: string): never {
  throw new ApiError(400, "validation", `${field}: ${message}`, [{ field, message }]);
}

/** A form of the action panel: a heading, the fields, the error no field claimed, submit and cancel. */
function ActionForm({ form, title, submit, label, onCancel, children }: { form: FormState; title: string; submit(): Promise<void>; label: string; onCancel(): void; children: ReactNode }) {
  return (
    <section className="file-action" aria-labelledby={`${form.id}-title`}>
      <h2 id={`${form.id}-title`}>{title}</h2>
      <form aria-label={title} onSubmit={(e) => void form.submit(submit)(e)}>
        {children}
        <FormError form={form} />
        <div className="actions">
          <button type="submit" className="primary" disabled={form.busy}>{label}</button>
          <button type="button" onClick={onCancel}>Cancel</button>
        </div>
      </form>
    </section>
  );
}

function NewFolder({ podId, dir, onDone, onCancel }: ActionProps) {
  const form = useForm();
  const toast = useToast();
  const [name, setName] = useState("");
  const submit = async (): Promise<void> => {
    if (!name.trim()) refuse("path", "enter a name");
    await api.makeFolder(podId, joinPath(dir, name.trim()));
    toast(`Created folder ${name.trim()}`);
    onDone();
  };
  return (
    <ActionForm form={form} title="New folder" label="Create folder" submit={submit} onCancel={onCancel}>
      <TextField form={form} name="path" label="Folder name" autoFocus required value={name} onChange={(e) => setName(e.target.value)} />
    </ActionForm>
  );
}

function MoveOrCopy({ podId, path, copy, onDone, onCancel }: ActionProps & { path: string; copy: boolean }) {
  const form = useForm();
  const toast = useToast();
  const [to, setTo] = useState(copy ? joinPath(parentOf(path), `copy of ${baseName(path)}`) : path);
  const submit = async (): Promise<void> => {
    const target = to.trim().replace(/^\/+/, "");
    if (!target) refuse("to", "enter the new path");
    if (copy) {
      const result = await api.copyFile(podId, path, target);
      toast(`Copied ${result.copied} ${result.copied === 1 ? "entry" : "entries"}${result.skipped ? ` (${result.skipped} links or special files skipped)` : ""}`);
    } else {
      await api.renameFile(podId, path, target);
      toast(`Renamed ${baseName(path)} to ${target}`);
    }
    onDone();
  };
  return (
    <ActionForm form={form} title={`${copy ? "Copy" : "Rename or move"} ${baseName(path)}`} label={copy ? "Copy" : "Rename"} submit={submit} onCancel={onCancel}>
      <TextField form={form} name="to" label={copy ? "Copy to" : "New path"} hint="From the CloudPod's root; another folder moves it there. An existing entry is never replaced."
        autoFocus required value={to} onChange={(e) => setTo(e.target.value)} />
    </ActionForm>
  );
}

function Chmod({ podId, path, entry, onDone, onCancel }: ActionProps & { path: string; entry: FileEntry }) {
  const form = useForm();
  const toast = useToast();
  const [text, setText] = useState(formatMode(entry.mode).slice(1));
  const parsed = parseMode(text);
  const submit = async (): Promise<void> => {
    const checked = parseMode(text);
    if ("error" in checked) refuse("mode", checked.error);
    await api.chmodFile(podId, path, checked.mode);
    toast(`${baseName(path)} is now ${formatMode(checked.mode)}`);
    onDone();
  };
  return (
    <ActionForm form={form} title={`Permissions of ${baseName(path)}`} label="Set permissions" submit={submit} onCancel={onCancel}>
      <TextField form={form} name="mode" label="Permissions (octal)" inputMode="numeric" autoComplete="off" autoFocus required value={text}
        hint={"mode" in parsed ? `${modeLetters(parsed.mode)} (owner, group, others)` : "3 or 4 octal digits, e.g. 644 for files, 755 for folders"}
        onChange={(e) => setText(e.target.value)} />
    </ActionForm>
  );
}

const FORMATS = [{ value: "tar.gz", label: "tar.gz" }, { value: "zip", label: "zip" }];

function Archive({ podId, dir, paths, onDone, onCancel, onJob }: ActionProps & { paths: string[] }) {
  const form = useForm();
  const [format, setFormat] = useState<"tar.gz" | "zip">("tar.gz");
  const [name, setName] = useState(paths.length === 1 ? baseName(paths[0] ?? "archive") : "archive");
  const submit = async (): Promise<void> => {
    if (!name.trim()) refuse("destination", "enter a name");
    const destination = joinPath(dir, `${name.trim()}.${format}`);
    const { jobId } = await api.archiveFiles(podId, { paths, destination, format });
    onJob({ jobId, label: `Compressing ${paths.length} ${paths.length === 1 ? "item" : "items"} into ${baseName(destination)}` });
    onDone();
  };
  return (
    <ActionForm form={form} title={`Compress ${paths.length} selected`} label="Compress" submit={submit} onCancel={onCancel}>
      <TextField form={form} name="destination" label="Archive name (without extension)" autoFocus required value={name} onChange={(e) => setName(e.target.value)} />
      <SelectField form={form} name="format" label="Format" options={FORMATS} value={format} onChange={(e) => setFormat(e.target.value === "zip" ? "zip" : "tar.gz")} />
    </ActionForm>
  );
}

function Extract({ podId, dir, path, onDone, onCancel, onJob }: ActionProps & { path: string }) {
  const form = useForm();
  const [destination, setDestination] = useState(dir);
  const submit = async (): Promise<void> => {
    const { jobId } = await api.extractArchive(podId, { path, destination: destination.trim().replace(/^\/+|\/+$/g, "") });
    onJob({ jobId, label: `Extracting ${baseName(path)}` });
    onDone();
  };
  return (
    <ActionForm form={form} title={`Extract ${baseName(path)}`} label="Extract" submit={submit} onCancel={onCancel}>
      <TextField form={form} name="destination" label="Into folder" hint="From the CloudPod's root; empty is the root." value={destination} onChange={(e) => setDestination(e.target.value)} />
    </ActionForm>
  );
}

/** The form of `action` (new folder, rename/move, copy, permissions, compress or extract). */
export function ActionPanel({ action, ...props }: ActionProps & { action: FileAction }) {
  switch (action.kind) {
    case "mkdir": return <NewFolder {...props} />;
    case "rename": return <MoveOrCopy {...props} path={action.path} copy={false} />;
    case "copy": return <MoveOrCopy {...props} path={action.path} copy />;
    case "chmod": return <Chmod {...props} path={action.path} entry={action.entry} />;
    case "archive": return <Archive {...props} paths={action.paths} />;
    case "extract": return <Extract {...props} path={action.path} />;
  }
}
