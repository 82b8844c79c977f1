// Calls to the service's public API with the session's token, and its JSON errors as
// exceptions that keep the field a 422 names.

import { session } from "./session.js";

export class ApiError extends Error {
  constructor(status, body) {
    super(body.detail || `the service answered ${status}`);
    this.status = status;
    this.code = body.error || "";
    this.field = body.field || null;
    // A 412 version_conflict carries the snippet as it is now.
    this.current = body.current || null;
  }

  static async from(response) {
    let body = {};
    try {
      body = await response.json();
    } catch {
      // A proxy's HTML error page, say: keep the status.
    }
    return new ApiError(response.status, body);
  }
}

/** `fetch` with the session's token; one 401 in local mode renews the token and retries. */
export async function call(method, path, { body, raw, query, headers = {}, signal } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const send = async () => {
    const token = await session.fresh();
    const all = { ...headers };
    if (token) all.Authorization = `Bearer ${token}`;
    if (body !== undefined) all["Content-Type"] = "application/json";
    return fetch(url, {
      method,
      headers: all,
      // `raw`: a file sent as it is (an import), not as JSON.
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
      signal,
      credentials: "omit",
      cache: "no-store",
    });
  };
  let response = await send();
  if (response.status === 401 && (await session.refused())) response = await send();
  if (!response.ok) throw await ApiError.from(response);
  return response;
}

/** A JSON answer, or null for 204. */
export async function api(method, path, options) {
  const response = await call(method, path, options);
  return response.status === 204 ? null : response.json();
}
