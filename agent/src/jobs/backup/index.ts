import { backupDatabase } from "./database";
import { restoreBackup } from "./restore";
import { restoreTestBackup } from "./restore-test";
import { backupSite } from "./site";

/** Backup and restore handlers (restic; DESIGN section 10). */
export const backupHandlers = {
  BACKUP_SITE: backupSite,
  BACKUP_DATABASE: backupDatabase,
  RESTORE_BACKUP: restoreBackup,
  RESTORE_TEST_BACKUP: restoreTestBackup,
};
