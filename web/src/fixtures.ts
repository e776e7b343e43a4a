// /api/v1/me as the gateway answers it for the two demo pilots (src/marketintel/entitlements/service.py).
import type { Me } from "./api/types";

const PRODUCTS = ["prices", "curves", "fundamentals", "downloads", "scenarios"];

function me(tenant: string, market: string, channels: string[]): Me {
  return {
    subject: `analyst@${tenant}.example`,
    tenant,
    role: "analyst",
    channel: "hub",
    credential: "session",
    entitlements: PRODUCTS.flatMap((product) => channels.map((channel) => ({ market, product, channel }))),
    channels: [...channels].sort(),
  };
}

export const PILOT_MISO = me("pilot_miso", "MISO", ["hub", "api", "downloads"]);
export const PILOT_CAISO = me("pilot_caiso", "CAISO", ["hub", "downloads"]);
