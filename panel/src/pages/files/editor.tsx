import { useEffect, useRef, useState } from "react";
import { api } from "../../api";
import { useResource } from "../../hooks";
import { Link, navigate, useLocation } from "../../router";
import { useArea } from "../../session";
import { FormError, PageHeader, Pending, useConfirm, useForm, useToast, When } from "../../ui";
import type { MountedEditor } from "./code-editor";
import { baseName, formatBytes, parentOf } from "./paths";

/**
 * While `dirty`, asks before the page is left: the browser's own prompt on reload or close,
 * and the panel's confirmation on a click on any same-origin link (caught before the router's).
 */
function useLeaveGuard(dirty: boolean): void {
  const confirm = useConfirm();
  useEffect(() => {
    if (!dirty) return undefined;
    const beforeUnload = (event: BeforeUnloadEvent): void => event.preventDefault();
    const click = (event: MouseEvent): void => {
      const link = event.target instanceof Element ? event.target.closest("a[href]") : null;
      if (!(link instanceof HTMLAnchorElement) || link.origin !== location.origin || link.hasAttribute("download") || event.button !== 0) return;
      event.preventDefault();
      event.stopPropagation();
      void confirm({ title: "Discard unsaved changes?", body: "The file has changes that are not saved. Leaving the editor discards them.", action: "Discard changes" })
        .then((ok) => ok && navigate(link.pathname + link.search));
    };
    window.addEventListener("beforeunload", beforeUnload);
    document.addEventListener("click", click, true);
    return () => {
      window.removeEventListener("beforeunload", beforeUnload);
      document.removeEventListener("click", click, true);
    };
  }, [dirty, confirm]);
}

/**
 * A text file of a CloudPod in CodeMirror (`?path=`): Save (or Ctrl-S) writes it back; the
 * server's refusal shows under the editor (its `content` field error) or as a banner; leaving
 * with unsaved changes asks first. The editor's code loads on demand.
 */
export function FileEditorPage({ params }: { params: Record<string, string> }) {
  const id = params.id ?? "";
  const { base } = useArea();
  const { search } = useLocation();
  const path = search.get("path") ?? "";
  const toast = useToast();
  const form = useForm();
  const file = useResource(() => api.fileText(id, path), `${id}\0${path}`);
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<MountedEditor | null>(null);
  const [ready, setReady] = useState(false);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [dirty, setDirty] = useState(false);
  const [saved, setSaved] = useState<{ size: number; at: string } | null>(null);
  useLeaveGuard(dirty);

  const save = form.submit(async () => {
    const current = editor.current;
    if (!current) return;
    const written = await api.saveFileText(id, path, current.value());
    current.markSaved();
    setSaved({ size: written.size, at: new Date().toISOString() });
    toast(`Saved ${baseName(path)}`);
  });
  const saveRef = useRef(save);
  saveRef.current = save;

  // Mounted once per file: a later reload of the resource (live resync) must not replace unsaved text.
  const content = useRef<string | undefined>(undefined);
  content.current = file.data?.content;
  const loaded = file.data !== null;
  useEffect(() => {
    const element = host.current;
    const text = content.current;
    if (!loaded || text === undefined || !element) return undefined;
    let gone = false;
    import("./code-editor").then(({ mountEditor }) => {
      if (gone) return;
      editor.current = mountEditor(element, baseName(path), text, setDirty, () => void saveRef.current());
      setReady(true);
      editor.current.focus();
    }, (error: unknown) => setLoadError(`The editor did not load: ${error instanceof Error ? error.message : String(error)}`));
    return () => {
      gone = true;
      editor.current?.destroy();
      editor.current = null;
    };
  }, [loaded, path]);

  const folder = `${base}/cloudpods/${id}/files${parentOf(path) ? `?path=${encodeURIComponent(parentOf(path))}` : ""}`;
  return (
    <>
      <PageHeader title={`Edit ${baseName(path) || "file"}`}>
        <Link to={folder}>Back to folder</Link>
        <button type="button" className="primary" disabled={!ready || form.busy} onClick={() => void save()}>{form.busy ? "Saving…" : "Save"}</button>
      </PageHeader>
      <p className="muted"><code>/{path}</code></p>
      {file.error && !file.notFound && (
        <div className="form-error" role="alert">
          <p>This file cannot be opened in the editor: {file.error}</p>
          <p><a href={api.downloadUrl(id, path)} download={baseName(path)}>Download it instead</a></p>
        </div>
      )}
      {!file.data ? (file.error && !file.notFound ? null : <Pending resource={file} what="file" />) : (
        <>
          <p className="muted editor-status" role="status" data-dirty={dirty ? "yes" : "no"}>
            {dirty ? "Unsaved changes" : "No unsaved changes"} · {formatBytes(saved?.size ?? file.data.size)} · {saved ? "saved" : "changed"} <When at={saved?.at ?? file.data.mtime} />
          </p>
          {loadError && <p className="form-error" role="alert">{loadError}</p>}
          {!ready && !loadError && <p aria-busy="true">Loading editor…</p>}
          <div className={`code-editor${form.errors.content ? " has-error" : ""}`} ref={host} data-editor={ready ? "ready" : "loading"} />
          {form.errors.content && <p className="field-error" role="alert" data-field="content">content: {form.errors.content}</p>}
          <FormError form={form} />
        </>
      )}
    </>
  );
}
