/**
 * Types for the part of the installed `codemirror` package the file editor uses. That package
 * (6.65.7, npm tag `version5`) is CodeMirror 5's code with no type declarations of its own:
 * `CodeMirror(host, options)` builds an editor in `host`; the `mode/*` files register
 * languages when imported. See https://codemirror.net/5/doc/manual.html.
 */
declare module "codemirror" {
  /** An editor instance (CodeMirror 5 `Editor`). */
  export interface Editor {
    getValue(): string;
    on(event: "change", handler: () => void): void;
    /** A token for the current state of the document; `isClean(token)` tells whether it changed since. */
    changeGeneration(): number;
    isClean(generation: number): boolean;
    focus(): void;
    getWrapperElement(): HTMLElement;
  }
  /** Options of CodeMirror 5 used here. */
  export interface EditorConfiguration {
    value: string;
    mode: string | { name: string; [option: string]: unknown } | null;
    lineNumbers: boolean;
    lineWrapping: boolean;
    indentUnit: number;
    inputStyle: "textarea" | "contenteditable";
    screenReaderLabel: string;
    readOnly: boolean;
    extraKeys: Record<string, () => void>;
  }
  /** Builds an editor as the last child of `host`. */
  export default function CodeMirror(host: HTMLElement, options: Partial<EditorConfiguration>): Editor;
}

/** Language modes: imported for their side effect of registering with CodeMirror. */
declare module "codemirror/mode/*" {}
