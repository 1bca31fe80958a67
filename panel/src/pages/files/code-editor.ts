/**
 * The text editor itself, loaded on demand (`import("./code-editor")`): CodeMirror, its CSS
 * and its language modes land in their own chunk, not in the panel's main bundle.
 */
import CodeMirror from "codemirror";
import "codemirror/lib/codemirror.css";
import "codemirror/mode/css/css.js";
import "codemirror/mode/htmlmixed/htmlmixed.js";
import "codemirror/mode/javascript/javascript.js";
import "codemirror/mode/markdown/markdown.js";
import "codemirror/mode/nginx/nginx.js";
import "codemirror/mode/php/php.js";
import "codemirror/mode/properties/properties.js";
import "codemirror/mode/python/python.js";
import "codemirror/mode/shell/shell.js";
import "codemirror/mode/sql/sql.js";
import "codemirror/mode/xml/xml.js";
import "codemirror/mode/yaml/yaml.js";

/** Mode (CodeMirror 5 name or MIME type) by file extension; others open as plain text. */
const MODES: Record<string, string> = {
  css: "css", html: "htmlmixed", htm: "htmlmixed", js: "javascript", mjs: "javascript", cjs: "javascript",
  json: "application/json", ts: "text/typescript", md: "markdown", markdown: "markdown", conf: "nginx",
  php: "application/x-httpd-php", ini: "properties", env: "properties", py: "python", sh: "shell", bash: "shell",
  sql: "sql", xml: "xml", svg: "xml", yml: "yaml", yaml: "yaml",
};

/** What the editor page holds of a mounted editor. */
export interface MountedEditor {
  /** The document's text now. */
  value(): string;
  /** Marks the current text as saved (dirty again after the next change). */
  markSaved(): void;
  focus(): void;
  /** Removes the editor from the page. */
  destroy(): void;
}

/**
 * Mounts an editor for `fileName` (its extension picks the highlighting) holding `text` in
 * `host`. `onDirty(dirty)` tells whether the text differs from the last saved state after
 * each change; Ctrl-S / Cmd-S calls `onSave`.
 */
export function mountEditor(host: HTMLElement, fileName: string, text: string, onDirty: (dirty: boolean) => void, onSave: () => void): MountedEditor {
  const extension = /\.([^.]+)$/.exec(fileName)?.[1]?.toLowerCase() ?? "";
  const editor = CodeMirror(host, {
    value: text, mode: MODES[extension] ?? null, lineNumbers: true, lineWrapping: false, indentUnit: 2,
    inputStyle: "contenteditable", screenReaderLabel: `Contents of ${fileName}`, extraKeys: { "Ctrl-S": onSave, "Cmd-S": onSave },
  });
  let saved = editor.changeGeneration();
  editor.on("change", () => onDirty(!editor.isClean(saved)));
  return {
    value: () => editor.getValue(),
    markSaved() {
      saved = editor.changeGeneration();
      onDirty(false);
    },
    focus: () => editor.focus(),
    destroy: () => editor.getWrapperElement().remove(),
  };
}
