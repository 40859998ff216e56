/**
 * The file descriptor under a Node socket or server, for handing it to a
 * new process (live update). Node keeps it on the internal `_handle`; this is
 * the one place that reaches for it.
 */
export function fdOf(s: object | undefined): number | undefined {
  const fd = (s as { _handle?: { fd?: number } | null } | undefined)?._handle?.fd;
  return fd !== undefined && fd >= 0 ? fd : undefined;
}
