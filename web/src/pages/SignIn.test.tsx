import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PILOT_MISO } from "../fixtures";
import { SignIn } from "./SignIn";

afterEach(() => vi.unstubAllGlobals());

function fill() {
  fireEvent.change(screen.getByLabelText("Email"), { target: { value: "analyst@pilot-miso.example" } });
  fireEvent.change(screen.getByLabelText("Password"), { target: { value: "secret" } });
  fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
}

describe("SignIn", () => {
  it("posts the credentials and hands over who signed in", async () => {
    const fetch = vi.fn(async () => new Response(JSON.stringify(PILOT_MISO), { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    const signedIn = vi.fn();
    render(<SignIn onSignedIn={signedIn} />);
    fill();
    await waitFor(() => expect(signedIn).toHaveBeenCalledWith(PILOT_MISO));
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/v1/auth/session");
    expect(init.method).toBe("POST");
    expect(JSON.parse(String(init.body))).toEqual({ email: "analyst@pilot-miso.example", password: "secret" });
  });

  it("says what went wrong and what to do", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ status: 401, detail: "wrong email or password" }), { status: 401 })));
    render(<SignIn onSignedIn={vi.fn()} />);
    fill();
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("wrong email or password");
    expect(alert.textContent).toContain("Check the email and password");
  });
});
