// A process that belongs to whoever started it ends with it. Signals do not always arrive: a
// parent killed outright, or one that dies of a signal it does not pass on (npm and tsx pass
// on SIGINT and SIGTERM but not SIGHUP; sh passes on nothing), leaves its child running under
// another parent. So the child watches.

/** Calls onGone once the parent process has ended (this process got another parent). */
export function whenParentProcessEnds(onGone: () => void, intervalMs = 250): () => void {
  const parent = process.ppid; // a live getter: getppid() on each read
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Calls onGone once the process that started this one with an IPC channel has ended: the
 * kernel closes its end of the channel whichever way it died. Returns false, and watches
 * nothing, when there is no such channel (started by a service manager, a shell, …).
 */
export function whenLauncherDisconnects(onGone: () => void): boolean {
  if (!process.channel) return false;
  process.channel.unref(); // the channel alone must not keep this process alive
  process.once('disconnect', onGone);
  return true;
}
