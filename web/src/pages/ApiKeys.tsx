// The tenant's API keys (the api channel): list, create (the secret is shown once), revoke.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api } from "../api/client";
import type { ApiKey, NewKey } from "../api/types";
import { Empty, ErrorBox, Loading } from "../components/States";
import { localTime } from "../format";
import { useSession } from "../session";

const UTC = "UTC";

export default function ApiKeys() {
  const { me } = useSession();
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [name, setName] = useState("");
  const [role, setRole] = useState("viewer");
  const [created, setCreated] = useState<NewKey | null>(null);
  const [busy, setBusy] = useState(false);
  const canWrite = me.role !== "viewer";

  const load = useCallback(() => {
    setError(null);
    api
      .apiKeys()
      .then((r) => setKeys(r.items))
      .catch(setError);
  }, []);
  useEffect(load, [load]);

  const create = (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    api
      .createApiKey(name.trim(), role)
      .then((key) => {
        setCreated(key);
        setName("");
        load();
      })
      .catch(setError)
      .finally(() => setBusy(false));
  };

  const revoke = (prefix: string) => {
    if (!window.confirm(`Revoke key ${prefix}? Calls with it are refused from the next request on.`)) return;
    api.revokeApiKey(prefix).then(load).catch(setError);
  };

  return (
    <div className="apikeys">
      <div className="toolbar">
        <h1>API keys</h1>
        <span className="muted">for {me.tenant}'s programs on the api channel: send as the X-API-Key header</span>
      </div>
      {error ? <ErrorBox error={error} retry={load} /> : null}
      {canWrite ? (
        <form className="inline-form" onSubmit={create} aria-label="Create API key">
          <input placeholder="key name, e.g. risk-batch" value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} />
          <select value={role} onChange={(e) => setRole(e.target.value)} aria-label="Role">
            <option>viewer</option>
            <option>analyst</option>
            {me.role === "admin" ? <option>admin</option> : null}
          </select>
          <button type="submit" disabled={busy}>
            Create key
          </button>
        </form>
      ) : (
        <p className="muted">Viewers cannot create or revoke keys.</p>
      )}
      {created ? (
        <div className="state secret" role="status">
          New key <strong>{created.name}</strong>: <code className="mono">{created.secret}</code>
          <div className="advice">Copy it now: it is shown this once and stored nowhere in readable form.</div>
        </div>
      ) : null}
      {keys === null && !error ? <Loading what="API keys" /> : null}
      {keys !== null && keys.length === 0 ? <Empty>No API keys yet. Create one above.</Empty> : null}
      {keys !== null && keys.length > 0 ? (
        <table className="grid">
          <thead>
            <tr>
              <th className="left">Prefix</th>
              <th className="left">Name</th>
              <th className="left">Role</th>
              <th className="left">User</th>
              <th>Created (UTC)</th>
              <th>Last used (UTC)</th>
              <th>Expires (UTC)</th>
              <th className="left">Status</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.prefix}>
                <td className="left mono">{k.prefix}</td>
                <td className="left">{k.name}</td>
                <td className="left">{k.role}</td>
                <td className="left muted">{k.user ?? "—"}</td>
                <td className="num">{localTime(k.created_at, UTC)}</td>
                <td className="num">{localTime(k.last_used_at, UTC)}</td>
                <td className="num">{localTime(k.expires_at, UTC)}</td>
                <td className={`left ${k.revoked_at ? "warn" : ""}`}>{k.revoked_at ? "revoked" : "active"}</td>
                <td>
                  {canWrite && !k.revoked_at ? (
                    <button type="button" className="small danger" onClick={() => revoke(k.prefix)}>
                      Revoke
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
