// Integer arithmetic of time-expression offsets: `7*2`, `-12*2`, `(1+2)*3`, `5/24/60`.
// Java int semantics as in DolphinScheduler's TimePlaceholderUtils.calculate: `/` truncates
// toward zero and `*` `/` bind tighter than `+` `-`, left to right. Two deliberate
// differences: a unary sign binds to its operand (DS gives `-1+2` = -3, here it is 1), and a
// result beyond ±2^31 is an error instead of wrapping around.

export class ArithmeticError extends Error {}

const INT_MAX = 2 ** 31 - 1;
const INT_MIN = -(2 ** 31);

/** Messages leave the source out: the caller knows how to name it. */
function checked(n: number): number {
  if (n > INT_MAX || n < INT_MIN) throw new ArithmeticError("overflows a 32-bit integer");
  return n;
}

export function evaluateInt(source: string): number {
  const tokens = source.match(/\d+|[-+*/()]|\S/g) ?? [];
  let pos = 0;
  const peek = () => tokens[pos];
  const fail = (what: string): never => {
    throw new ArithmeticError(`is not integer arithmetic: ${what}`);
  };

  function primary(): number {
    const t = tokens[pos++];
    if (t === undefined) return fail("it ends where a number is expected");
    if (/^\d+$/.test(t)) return checked(Number(t));
    if (t === "-") return checked(-primary());
    if (t === "+") return primary();
    if (t === "(") {
      const v = sum();
      if (tokens[pos++] !== ")") fail("a \"(\" is never closed");
      return v;
    }
    return fail(`unexpected "${t}"`);
  }

  function product(): number {
    let v = primary();
    while (peek() === "*" || peek() === "/") {
      const op = tokens[pos++];
      const rhs = primary();
      if (op === "*") v = checked(v * rhs);
      else {
        if (rhs === 0) throw new ArithmeticError("divides by zero");
        v = checked(Math.trunc(v / rhs));
      }
    }
    return v;
  }

  function sum(): number {
    let v = product();
    while (peek() === "+" || peek() === "-") {
      const op = tokens[pos++];
      const rhs = product();
      v = checked(op === "+" ? v + rhs : v - rhs);
    }
    return v;
  }

  if (tokens.length === 0) fail("it is empty");
  const value = sum();
  if (pos < tokens.length) fail(`unexpected "${tokens[pos]}"`);
  return value === 0 ? 0 : value; // no -0
}
