import { useEffect, useId, useRef, useState } from "react";
import { formatBytes, joinPath } from "./paths";
import { uploadFile } from "./upload";

/** One file being (or having been) uploaded. */
interface UploadRow {
  key: number;
  name: string;
  size: number;
  sent: number;
  state: "waiting" | "uploading" | "done" | "failed" | "canceled";
  error?: string;
}

/**
 * Upload button and the uploads' progress bars. Chosen files go one after another into `dir`
 * over the resumable upload API (interrupted requests resume from the node's count); the
 * node refuses a file that does not fit its free space or quota after the first small
 * request, and that message shows on the file's row. Calls `onUploaded` after each file.
 */
export function UploadPanel({ podId, dir, onUploaded }: { podId: string; dir: string; onUploaded(): void }) {
  const inputId = useId();
  const [rows, setRows] = useState<UploadRow[]>([]);
  const controllers = useRef(new Map<number, AbortController>());
  const next = useRef(0);
  const queue = useRef(Promise.resolve());
  useEffect(() => () => controllers.current.forEach((c) => c.abort()), []);

  const change = (key: number, patch: Partial<UploadRow>): void => setRows((all) => all.map((r) => (r.key === key ? { ...r, ...patch } : r)));
  const start = (files: File[]): void => {
    const added = files.map((file) => ({ file, row: { key: ++next.current, name: file.name, size: file.size, sent: 0, state: "waiting" as const } }));
    setRows((all) => [...all.filter((r) => r.state === "uploading" || r.state === "waiting"), ...added.map((a) => a.row)]);
    for (const { file, row } of added) {
      const controller = new AbortController();
      controllers.current.set(row.key, controller);
      queue.current = queue.current.then(async () => {
        if (controller.signal.aborted) return;
        change(row.key, { state: "uploading" });
        try {
          await uploadFile(podId, joinPath(dir, file.name), file, (sent) => change(row.key, { sent }), controller.signal);
          change(row.key, { state: "done", sent: file.size });
          onUploaded();
        } catch (error) {
          const canceled = error instanceof DOMException && error.name === "AbortError";
          change(row.key, canceled ? { state: "canceled" } : { state: "failed", error: error instanceof Error ? error.message : String(error) });
        } finally {
          controllers.current.delete(row.key);
        }
      });
    }
  };

  return (
    <div className="uploads">
      <input id={inputId} type="file" multiple className="sr-only" data-upload-input onChange={(e) => {
        start([...(e.target.files ?? [])]);
        e.target.value = "";
      }} />
      <label htmlFor={inputId} className="button">Upload files</label>
      {rows.length > 0 && (
        <ul className="upload-list" aria-label="Uploads">
          {rows.map((r) => {
            const percent = r.size === 0 ? 100 : Math.floor((r.sent / r.size) * 100);
            return (
              <li key={r.key} data-upload={r.name} data-state={r.state}>
                <span className="file-name">{r.name}</span>{" "}
                <progress max={100} value={r.state === "done" ? 100 : percent} aria-label={`Upload of ${r.name}`} />{" "}
                <span className="muted">{r.state === "done" ? `${formatBytes(r.size)} uploaded` : r.state === "canceled" ? "canceled"
                  : r.state === "waiting" ? "waiting" : `${formatBytes(r.sent)} of ${formatBytes(r.size)} (${percent}%)`}</span>
                {(r.state === "uploading" || r.state === "waiting") && (
                  <button type="button" onClick={() => controllers.current.get(r.key)?.abort()} aria-label={`Cancel upload of ${r.name}`}>Cancel</button>
                )}
                {r.error && <p className="field-error" role="alert">{r.name}: {r.error}</p>}
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
