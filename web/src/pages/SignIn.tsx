// Sign in to the hub: email and password for a session cookie (the hub channel).
import { useState, type FormEvent } from "react";
import { api, ApiError } from "../api/client";
import type { Me } from "../api/types";
import { ErrorBox } from "../components/States";

export function SignIn({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    api
      .signIn(email.trim(), password)
      .then(onSignedIn)
      .catch(setError)
      .finally(() => setBusy(false));
  };

  return (
    <div className="signin">
      <form onSubmit={submit} aria-label="Sign in">
        <h1>254Carbon Market Intelligence</h1>
        <p className="muted">Sign in to the web hub.</p>
        <label>
          Email
          <input
            name="email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {error ? (
          <ErrorBox
            error={error}
            advice={error instanceof ApiError && error.status === 401 ? "Check the email and password, then sign in again." : undefined}
          />
        ) : null}
        <p className="muted small">Demo accounts are printed by <code>make demo</code>.</p>
      </form>
    </div>
  );
}
