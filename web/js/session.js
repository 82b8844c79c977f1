// Who is signed in: a token pasted by the user (kept in this tab's sessionStorage, never in a
// URL), or in local mode one the service mints for this machine's own browser.

const STORAGE_KEY = "pieces.token";
const LOCAL_SESSION = "/local/session";
/** A local-mode token is renewed this long before it runs out. */
const RENEW_BEFORE_MS = 5 * 60 * 1000;

const listeners = new Set();

export const session = {
  token: null,
  /** "local" (minted by the service), "jwt" or "personal" (pcn_...). */
  kind: null,
  user: null,
  expiresAt: null,

  get signedIn() { return this.token !== null; },

  onChange(listener) { listeners.add(listener); },

  /** Restores this tab's token, or signs in by itself in local mode on this machine. */
  async restore() {
    const stored = sessionStorage.getItem(STORAGE_KEY);
    if (stored) {
      this.use(stored);
      return true;
    }
    return this.signInLocally();
  },

  /** Asks the service for a local-mode token; false where there is no local mode (404). */
  async signInLocally() {
    let response;
    try {
      response = await fetch(LOCAL_SESSION, { method: "POST", credentials: "omit" });
    } catch {
      return false;
    }
    if (!response.ok) return false;
    const minted = await response.json();
    this.token = minted.token;
    this.kind = "local";
    this.user = minted.user;
    this.expiresAt = Date.parse(minted.expires_at);
    notify();
    return true;
  },

  /** Uses a pasted token for this tab. */
  use(token) {
    this.token = token.trim();
    this.kind = this.token.startsWith("pcn_") ? "personal" : "jwt";
    this.user = this.kind === "jwt" ? jwtUser(this.token) : null;
    this.expiresAt = this.kind === "jwt" ? jwtExpiry(this.token) : null;
    sessionStorage.setItem(STORAGE_KEY, this.token);
    notify();
  },

  /** A local-mode token close to its end is renewed before it is sent. */
  async fresh() {
    if (this.kind === "local" && this.expiresAt - Date.now() < RENEW_BEFORE_MS) {
      await this.signInLocally();
    }
    return this.token;
  },

  /** After a 401: a local-mode session is renewed (true); any other is over. */
  async refused() {
    if (this.kind === "local" && (await this.signInLocally())) return true;
    this.signOut();
    return false;
  },

  signOut() {
    sessionStorage.removeItem(STORAGE_KEY);
    this.token = this.kind = this.user = this.expiresAt = null;
    notify();
  },
};

function notify() {
  for (const listener of listeners) listener(session);
}

function jwtClaims(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload));
  } catch {
    return {};
  }
}

function jwtUser(token) {
  const claims = jwtClaims(token);
  const user = claims.user_id ?? claims.sub;
  return user === undefined ? null : String(user);
}

function jwtExpiry(token) {
  const exp = jwtClaims(token).exp;
  return typeof exp === "number" ? exp * 1000 : null;
}
