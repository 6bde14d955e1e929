// The AWS SDK warns, through process.emitWarning, on every run under a Node
// version it plans to drop ("NodeVersionSupportWarning: ... will require
// node >=22"): advice for whoever picks the Node version, not for each
// `hatoba s3` user. Only that warning is dropped; every other one (Node's
// own deprecations included) is shown as before.

const SDK_NODE_VERSION_WARNING = /^NodeVersionSupportWarning\b|The AWS SDK for JavaScript \(v3\)[\s\S]*(will no longer support|will require) node/i;

/** Whether a warning passed to process.emitWarning is the AWS SDK's Node-version notice. */
export function isSdkNodeVersionWarning(warning: string | Error, type?: unknown): boolean {
  const text = typeof warning === 'string' ? warning : `${warning.name}: ${warning.message}`;
  return type === 'NodeVersionSupportWarning' || SDK_NODE_VERSION_WARNING.test(text);
}

/** Wraps process.emitWarning so that the AWS SDK's Node-version notice is not printed. */
export function silenceSdkNodeVersionWarning(): void {
  const emit = process.emitWarning;
  process.emitWarning = function emitWarning(this: unknown, warning: string | Error, ...rest: unknown[]): void {
    const options = rest[0];
    const type = typeof options === 'object' && options !== null ? (options as { type?: unknown }).type : options;
    if (isSdkNodeVersionWarning(warning, type)) return;
    return (emit as (...args: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
}
