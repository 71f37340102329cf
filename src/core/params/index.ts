// DolphinScheduler-compatible parameters: time expressions, built-ins, layered resolution
// and typed properties. Pure functions; the master calls resolveParams when it creates an attempt.

export { BUILTIN, builtinParams, type BuiltinInput } from "./builtins.ts";
export { MAX_REFERENCE_DEPTH, MAX_VALUE_LENGTH, mergeUpstreamOut, resolveParams, type Params, type ResolveInput, type UpstreamOut } from "./resolve.ts";
export { checkTimeExpressions, evaluateTimeExpression, expandTimeExpressions, TIME_FUNCTIONS, type TimeContext } from "./time-expression.ts";
export {
  checkTypedValue,
  PARAM_TYPES,
  paramDirectionSchema,
  paramTypeSchema,
  typedPropertySchema,
  type ParamType,
  type TypedCheck,
  type TypedProperty,
} from "./typed.ts";
export { clockFromParams, paramClockOf, parseParamDatetime, type ClockSource } from "./clock.ts";
