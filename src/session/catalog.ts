// What can be traced, for the faces (`-le`, `-lf`, `-lm`, `.events`, completion after
// `trace `), and the kernel leftovers of dead runs: the faces' door to the probes' side.

import { listFunctions as elfFunctions, listMarkers as elfMarkers } from '../probes/elf';
import { availableTracepoints, listEvents as tracepointNames } from '../probes/resolve';
import { listEventFields as eventFieldLines } from '../probes/listing';
import { findTracefs } from '../probes/tracefs';

/** Removes what killed runs left in the kernel (before a run, even one that traces nothing). */
export { removeStaleRunsIfPermitted } from '../probes/tracer';

/** `-le [GLOB]`, `.events [GLOB]`: the kernel's tracepoints as sorted `system:event` names. */
export function listEvents(glob?: string): string[] {
  return tracepointNames(findTracefs(), glob);
}

/** `-lv [GLOB]`: the tracepoints with their fields (argN, type, args.NAME). */
export function listEventFields(glob?: string): string[] {
  return eventFieldLines(findTracefs(), glob);
}

/** Every tracepoint name, for completion; empty when tracefs cannot be read. */
export function eventNames(): string[] {
  try {
    return availableTracepoints(findTracefs()).map((tracepoint) => `${tracepoint.system}:${tracepoint.event}`);
  } catch {
    return [];
  }
}

/** `-lf FILE`: the functions of an ELF file a uprobe can be placed on. */
export function listFunctions(path: string): string[] {
  return elfFunctions(path);
}

/** `-lm FILE`: the SDT markers of an ELF file as `provider:name`. */
export function listMarkers(path: string): string[] {
  return elfMarkers(path);
}
