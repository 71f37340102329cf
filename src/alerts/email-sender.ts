// Email over SMTP with nodemailer: TLS from the first byte (`tls`, port 465), STARTTLS required
// (`starttls`), or plain (`none`: local relays, tests); AUTH when a user is set. nodemailer is
// loaded on first use, so a master that sends no email never evaluates it.

import type { EmailSettings } from "./channel-types.ts";
import type { SendResult } from "./send.ts";
import { type AlertMessage, textOf, titleOf } from "./templates.ts";

export async function sendEmail(settings: EmailSettings, secrets: Record<string, string>, m: AlertMessage, timeoutMs: number): Promise<SendResult> {
  const nodemailer = await import("nodemailer");
  const transport = nodemailer.createTransport({
    host: settings.host,
    port: settings.port,
    secure: settings.security === "tls",
    requireTLS: settings.security === "starttls",
    ignoreTLS: settings.security === "none",
    ...(settings.user ? { auth: { user: settings.user, pass: secrets.password ?? "" } } : {}),
    tls: { rejectUnauthorized: settings.rejectUnauthorized },
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  try {
    const info = await transport.sendMail({ from: settings.from, to: settings.to, subject: titleOf(m), text: textOf(m) });
    return { ok: true, retryable: false, detail: `SMTP accepted for ${info.accepted.length} recipient(s)${info.response ? `: ${String(info.response).slice(0, 200)}` : ""}` };
  } catch (err) {
    const e = err as { code?: string; responseCode?: number; message?: string };
    // 5xx is a permanent SMTP refusal (bad address, authentication failed); anything else may pass later.
    const permanent = typeof e.responseCode === "number" && e.responseCode >= 500 && e.code !== "ECONNECTION";
    return { ok: false, retryable: !permanent, detail: `${e.code ?? "SMTP"}${e.responseCode ? ` ${e.responseCode}` : ""}: ${(e.message ?? String(err)).slice(0, 400)}` };
  } finally {
    transport.close();
  }
}
