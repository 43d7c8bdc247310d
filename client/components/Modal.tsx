import type { ComponentChildren } from "preact";
import { useId, useLayoutEffect, useRef } from "preact/hooks";

const FOCUSABLE = [
  "a[href]",
  "button:not([disabled])",
  "input:not([disabled]):not([type=hidden])",
  "select:not([disabled])",
  "textarea:not([disabled])",
  "[tabindex]:not([tabindex='-1'])",
].join(",");

interface ModalProps {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  testid?: string;
  /** Extra class on the dialog box, e.g. "modal-wide". */
  class?: string;
}

/**
 * A modal dialog: labelled by its title, focus moves into it (the first field, else
 * its first control), Tab stays inside, Escape or the backdrop closes it, and the
 * focus goes back where it was. Full-screen on narrow screens (styles.css).
 */
export function Modal({ title, onClose, children, testid, class: cls }: ModalProps) {
  const box = useRef<HTMLDivElement>(null);
  const titleId = useId();
  const close = useRef(onClose);
  close.current = onClose;
  // Layout effect: Preact 11 runs passive cleanups after paint, once the dialog is gone
  // and the focus has fallen to <body>; this one runs before the DOM is removed.
  useLayoutEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const el = box.current;
    const first = el?.querySelector<HTMLElement>("[data-autofocus]") ??
      el?.querySelector<HTMLElement>("input, select, textarea") ??
      el?.querySelector<HTMLElement>(FOCUSABLE);
    first?.focus();
    return () => {
      if (before?.isConnected) before.focus();
    };
  }, []);
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      close.current();
      return;
    }
    if (e.key !== "Tab" || !box.current) return;
    const items = [...box.current.querySelectorAll<HTMLElement>(FOCUSABLE)]
      .filter((n) => n.offsetParent !== null || n === document.activeElement);
    if (items.length === 0) return;
    const first = items[0]!;
    const last = items[items.length - 1]!;
    if (
      e.shiftKey &&
      (document.activeElement === first || !box.current.contains(document.activeElement))
    ) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  };
  return (
    <div class="overlay modal-overlay" onKeyDown={onKeyDown}>
      <button
        type="button"
        class="overlay-backdrop"
        aria-label="Close"
        tabIndex={-1}
        onClick={() => close.current()}
      />
      <div
        ref={box}
        class={cls ? `card modal ${cls}` : "card modal"}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        data-testid={testid}
      >
        <div class="modal-head">
          <h2 id={titleId}>{title}</h2>
          <button
            type="button"
            class="icon-button modal-close"
            aria-label="Close"
            data-testid="dialog-close"
            onClick={() => close.current()}
          >
            <span aria-hidden="true">✕</span>
          </button>
        </div>
        {children}
      </div>
    </div>
  );
}
