/**
 * What this project is tested on, and the one Node-version notice a binary gives.
 *
 * The AWS SDK for JavaScript v3 warns on stderr, when a client is created on Node < 22, that its
 * releases after the first week of January 2027 require Node 22. Node 20.19+ is still supported
 * here (tested on 20 and on the current LTS), so a binary that starts on it must not print that
 * warning: on stderr under the KCL daemon every line is logged as an ERROR, and an operator
 * cannot tell a notice from a failure. The binary says it once in its own log instead.
 */

/** The Node majors CI runs the tests on (`make test`: the machine's Node and `make node-lts`). */
export const TESTED_NODE_MAJORS = [20, 24] as const;

/** The first Node major the AWS SDK's releases after January 2027 accept. */
export const SDK_MIN_NODE_MAJOR = 22;

const SDK_WARNING_SWITCH = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

/**
 * Call before the first AWS SDK client is created. On Node < 22 it turns the SDK's stderr warning
 * off (unless the environment already sets the SDK's own switch) and returns the notice to log;
 * on Node 22+ it changes nothing and returns undefined.
 */
export function sdkNodeNotice(version: string = process.version): string | undefined {
  const major = Number.parseInt(version.replace(/^v/, ''), 10);
  if (!(major < SDK_MIN_NODE_MAJOR)) return undefined;
  process.env[SDK_WARNING_SWITCH] ??= 'true';
  return `Node ${version}: supported and tested here, but AWS SDK for JavaScript v3 releases after the first week of January 2027 require Node >= ${SDK_MIN_NODE_MAJOR}; keep package-lock.json's SDK or move to Node 22/24`;
}
