/** A URL fit for logs and messages: the password replaced by `***`; never throws. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    // Not parseable as a URL: still hide anything that looks like user:password@.
    return url.replace(/^(\w+:\/\/[^:/@]*:)[^@]*@/, "$1***@");
  }
}
