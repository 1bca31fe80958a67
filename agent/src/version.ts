/** This agent's version, reported in Hello. */
export const AGENT_VERSION = "0.1.0";
