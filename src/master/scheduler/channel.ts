// The bus channel on which a changed schedule's id is published, so every scheduler re-reads it.
export { SCHEDULE_CHANNEL } from "../../core/messages.ts";
