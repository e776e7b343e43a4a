import { render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { Nav } from "./App";
import { PILOT_CAISO, PILOT_MISO } from "./fixtures";

describe("Nav", () => {
  it("has an API keys page for the MISO pilot, which holds the api channel", () => {
    render(<Nav me={PILOT_MISO} path="/" onSignOut={vi.fn()} />);
    expect(screen.getByRole("link", { name: "API keys" })).toBeTruthy();
    expect(screen.getByText(/pilot_miso · MISO/)).toBeTruthy();
  });

  it("has none for the CAISO pilot, and names only CAISO", () => {
    render(<Nav me={PILOT_CAISO} path="/" onSignOut={vi.fn()} />);
    expect(screen.queryByRole("link", { name: "API keys" })).toBeNull();
    expect(screen.getByText(/pilot_caiso · CAISO/)).toBeTruthy();
    expect(document.body.textContent).not.toContain("MISO");
  });
});
