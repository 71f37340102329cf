// The bus channel on which a changed schedule's id is published, so every scheduler re-reads it.
export const SCHEDULE_CHANNEL = "porpoise:schedules";
