/**
 * A view that loads when it is shown and again every few seconds while it stays shown,
 * unless `when` says not now (someone is typing in it, a dialog of it is open).
 */
export function refreshedView(load: () => Promise<void>, everyMs: number, when: () => boolean = () => true): { readonly show: () => void; readonly hide: () => void } {
  let timer: ReturnType<typeof setInterval> | null = null;
  return {
    show: () => {
      void load();
      timer ??= setInterval(() => {
        if (when()) void load();
      }, everyMs);
    },
    hide: () => {
      if (timer !== null) clearInterval(timer);
      timer = null;
    },
  };
}
