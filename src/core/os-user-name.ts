// The name of an OS user a task may run as: a project's tenant or --task-user. POSIX portable
// user names (letters, digits, ".", "_", "-", not starting with "-"), at most 32 characters as
// useradd allows: nothing that could be read as an option or a path by getent or in a log line.

import { z } from "zod";

const OS_USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

export const osUserNameSchema = z
  .string()
  .regex(OS_USER_NAME, 'expected an OS user name: 1-32 letters, digits, ".", "_" or "-", starting with a letter or "_"');
