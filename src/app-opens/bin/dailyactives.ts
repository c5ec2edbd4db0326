/**
 * bin/dailyactives: a second worker on the same stream as bin/lastopens, the example of adding a
 * projection of one's own: `PFADD dau:<yyyy-mm-dd> <userId>` per valid AppOpen. Launched by the
 * KCL MultiLangDaemon with properties/dailyactives.properties.
 *
 * Wired in ../dailyactives/app.ts (runDailyActivesKcl); its environment is
 * DAILYACTIVES_ENVIRONMENT.kcl there, shown in the README. Exit codes: as bin/lastopens (0, 1,
 * 2, 3, 4, 78).
 */
import { runDailyActivesKcl } from '../dailyactives/app.js';

await runDailyActivesKcl();
