// Wharf's version, as `wharf --version` prints it and `wharf_build_info` reports it (kept equal to package.json's).
export const WHARF_VERSION = '0.1.0';
