/** The tool's version, written into every backup's metadata as `tool`. */
export const VERSION = '0.1.0'

/** The backup format version this build writes (docs/format.md). Readers accept 1.x. */
export const FORMAT_VERSION = '1.0'
