// The signed-in caller (GET /api/v1/me), shared by every page.
import { createContext, useContext } from "react";
import type { Me } from "./api/types";

export interface Session {
  me: Me;
  signOut: () => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in app");
  return session;
}
