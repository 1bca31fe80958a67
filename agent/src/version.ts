/** This agent's version, reported in Hello. */
export const AGENT_VERSION = "0.1.0";

/**
 * The exit code after an upgrade (EX_TEMPFAIL, sysexits.h): the unit's `Restart=on-failure`
 * starts the agent again, now from the new bundle the install link points at.
 */
export const AGENT_RESTART_EXIT_CODE = 75;
