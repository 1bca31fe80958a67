/**
 * The text editor itself, loaded on demand (`import("./code-editor")`): CodeMirror 6 in its own
 * chunk, and each language in another, loaded when a file of its kind opens; none of it is in
 * the panel's main bundle. See https://codemirror.net/docs/ref/.
 */
import { StreamLanguage, type LanguageSupport } from "@codemirror/language";
import { Compartment, type Text } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { basicSetup, EditorView } from "codemirror";

/** Language support by file extension, each loaded on first use (its own chunk); others open as plain text. */
const LANGUAGES: Record<string, () => Promise<LanguageSupport | StreamLanguage<unknown>>> = {
  css: () => import("@codemirror/lang-css").then((m) => m.css()),
  html: () => import("@codemirror/lang-html").then((m) => m.html()),
  js: () => import("@codemirror/lang-javascript").then((m) => m.javascript()),
  ts: () => import("@codemirror/lang-javascript").then((m) => m.javascript({ typescript: true })),
  json: () => import("@codemirror/lang-json").then((m) => m.json()),
  md: () => import("@codemirror/lang-markdown").then((m) => m.markdown()),
  php: () => import("@codemirror/lang-php").then((m) => m.php()),
  py: () => import("@codemirror/lang-python").then((m) => m.python()),
  sql: () => import("@codemirror/lang-sql").then((m) => m.sql()),
  xml: () => import("@codemirror/lang-xml").then((m) => m.xml()),
  yaml: () => import("@codemirror/lang-yaml").then((m) => m.yaml()),
  conf: () => import("@codemirror/legacy-modes/mode/nginx").then((m) => StreamLanguage.define(m.nginx)),
  ini: () => import("@codemirror/legacy-modes/mode/properties").then((m) => StreamLanguage.define(m.properties)),
  sh: () => import("@codemirror/legacy-modes/mode/shell").then((m) => StreamLanguage.define(m.shell)),
};
/** Other extensions that share a language above. */
const ALIASES: Record<string, string> = { htm: "html", mjs: "js", cjs: "js", markdown: "md", svg: "xml", yml: "yaml", env: "ini", bash: "sh" };

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
 * `host`. `onDirty(dirty)` tells whether the text differs from the last saved text after each
 * change; Ctrl-S / Cmd-S calls `onSave`.
 */
export function mountEditor(host: HTMLElement, fileName: string, text: string, onDirty: (dirty: boolean) => void, onSave: () => void): MountedEditor {
  const extension = /\.([^.]+)$/.exec(fileName)?.[1]?.toLowerCase() ?? "";
  const loadLanguage = LANGUAGES[ALIASES[extension] ?? extension];
  const language = new Compartment();
  let saved: Text | null = null;
  // In a shadow root CodeMirror styles itself through constructed style sheets, which the
  // panel's Content-Security-Policy (style-src 'self', no inline <style>) allows.
  const root = host.shadowRoot ?? host.attachShadow({ mode: "open" });
  const view = new EditorView({
    parent: root,
    root,
    doc: text,
    extensions: [
      keymap.of([{ key: "Mod-s", preventDefault: true, run: () => (onSave(), true) }]),
      basicSetup,
      language.of([]),
      EditorView.contentAttributes.of({ "aria-label": `Contents of ${fileName}` }),
      EditorView.theme({
        "&": { height: "65vh", minHeight: "16rem", fontSize: ".9rem" },
        ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace" },
      }),
      EditorView.updateListener.of((update) => {
        if (update.docChanged) onDirty(!update.state.doc.eq(saved ?? update.startState.doc));
      }),
    ],
  });
  saved = view.state.doc;
  // Highlighting arrives when its language has loaded; the text is editable meanwhile.
  loadLanguage?.().then((support) => view.dispatch({ effects: language.reconfigure(support) }), () => undefined);
  return {
    value: () => view.state.doc.toString(),
    markSaved() {
      saved = view.state.doc;
      onDirty(false);
    },
    focus: () => view.focus(),
    destroy: () => view.destroy(),
  };
}
