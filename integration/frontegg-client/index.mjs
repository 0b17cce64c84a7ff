// Drives sessiongate's Frontegg-compatible routes with Frontegg's own client, @frontegg/rest-api,
// exactly as a Frontegg front end would call them: the package builds every URL, method, header
// and body itself; this script only configures it and calls its exported API functions.
//
// Run by integration/frontegg_test.go as `node index.mjs`, with its inputs in the environment:
//   SG_BASE_URL          the site origin plus api_prefix, e.g. http://127.0.0.1:8080/.sessiongate
//   SG_TOKEN             a Bearer token of the calling session (read, delete and policy permissions)
//   SG_NOPERM_TOKEN      a Bearer token of a session without any permission
//   SG_DELETE_SESSION_ID one of the caller's other sessions, for deleteSessionForUser
//   SG_REVOKE_USER_ID    a user of the caller's tenant, for revokeSessionsForUser
// It prints one JSON object with what each call returned (or the error it threw) and exits 0,
// or prints the failure to stderr and exits 1 when the package itself could not be driven.
import { ContextHolder, FronteggApiError, createApiClient } from '@frontegg/rest-api';

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    throw new Error(`missing environment variable ${name}`);
  }
  return v;
};

// The package is written for browsers: FetchClient reads window.location.search (for a
// ?tenantId= scope) on every request. Node has no window, so give it an empty location.
if (typeof globalThis.window === 'undefined') {
  globalThis.window = { location: { search: '', href: env('SG_BASE_URL') } };
}

// client configures one named app of the package: its baseUrl (the package appends
// /frontegg itself) and a tokenResolver that gives the Bearer token.
function client(appName, token) {
  ContextHolder.for(appName).setContext({
    baseUrl: env('SG_BASE_URL'),
    tokenResolver: () => token,
    requestCredentials: 'omit',
    logLevel: 'error',
  });
  return createApiClient(appName);
}

// call runs one API function and records its result, or the FronteggApiError it threw.
async function call(fn) {
  try {
    const value = await fn();
    return { ok: true, value: value === undefined ? null : value };
  } catch (e) {
    if (e instanceof FronteggApiError) {
      return {
        ok: false,
        statusCode: e.statusCode,
        message: e.message,
        errorCode: e.errorCode,
        errors: e.errors ?? null,
      };
    }
    throw e;
  }
}

async function main() {
  const admin = client('sessiongate-admin', env('SG_TOKEN')).auth;
  const noperm = client('sessiongate-noperm', env('SG_NOPERM_TOKEN')).auth;
  const out = {};

  out.listSessions = await call(() => admin.getCurrentUserSessions());
  out.currentSession = await call(() => admin.getCurrentUserSession());
  out.deleteSession = await call(() => admin.deleteSessionForUser(env('SG_DELETE_SESSION_ID')));
  out.listAfterDelete = await call(() => admin.getCurrentUserSessions());
  out.deleteAllSessions = await call(() => admin.deleteAllSessionsForUser());
  out.listAfterDeleteAll = await call(() => admin.getCurrentUserSessions());
  out.revokeWithoutPermission = await call(() => noperm.revokeSessionsForUser(env('SG_REVOKE_USER_ID')));
  out.revoke = await call(() => admin.revokeSessionsForUser(env('SG_REVOKE_USER_ID')));
  out.readConfigWithoutPermission = await call(() => noperm.getSessionConfigurations());
  out.readConfig = await call(() => admin.getSessionConfigurations());
  out.writeConfig = await call(() =>
    admin.createOrUpdateSessionConfigrations({
      sessionIdleTimeoutConfiguration: { isActive: true, timeout: 1800 },
      sessionTimeoutConfiguration: { isActive: true, timeout: 7200 },
      sessionConcurrentConfiguration: { isActive: true, maxSessions: 7 },
    }),
  );
  out.readConfigAfterWrite = await call(() => admin.getSessionConfigurations());
  out.writeBadConfig = await call(() =>
    admin.createOrUpdateSessionConfigrations({
      sessionIdleTimeoutConfiguration: { isActive: true, timeout: 0 },
    }),
  );
  out.currentSessionAtEnd = await call(() => admin.getCurrentUserSession());

  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`frontegg client failed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
