// Loading, error and empty states: each says what happened and what to do next.
import { ApiError } from "../api/client";

export function Loading({ what }: { what: string }) {
  return (
    <div className="state loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> Loading {what}…
    </div>
  );
}

export function ErrorBox({ error, retry, advice }: { error: unknown; retry?: () => void; advice?: string }) {
  const problem = error instanceof ApiError ? error : null;
  const detail = problem ? problem.detail : error instanceof Error ? error.message : String(error);
  return (
    <div className="state error" role="alert">
      <strong>{problem && problem.status ? `Error ${problem.status}: ` : "Error: "}</strong>
      {detail}
      {(advice ?? problem?.advice) ? <div className="advice">{advice ?? problem?.advice}</div> : null}
      {retry ? (
        <button type="button" className="small" onClick={retry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}

export function Empty({ children }: { children: React.ReactNode }) {
  return <div className="state empty">{children}</div>;
}
