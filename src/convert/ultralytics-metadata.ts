/**
 * ultralytics writes its model facts into the ONNX file's metadata_props as Python literals:
 * `names` = "{0: 'person', 1: 'bicycle'}", `imgsz` = "[640, 640]", `stride` = "32", `task` = "detect".
 * Read here so that `npm run convert -- onnx yolo.onnx --kind detector` needs no flags for such files.
 */
import type { onnx } from './onnx/onnx-proto';

/** What the metadata says; every field is absent when the file does not carry it. */
export interface UltralyticsMetadata {
  /** Class names in class-id order. */
  names?: string[];
  /** [height, width] of the exported input. */
  imgsz?: [number, number];
  stride?: number;
  task?: string;
}

/** Parses a Python dict literal `{0: 'a', 1: "b"}` into names ordered by key; null when it is not one. */
export function parseNames(text: string): string[] | null {
  const entries: [number, string][] = [];
  const item = /(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/g;
  for (let m = item.exec(text); m; m = item.exec(text)) {
    const raw = m[2] ?? m[3] ?? '';
    entries.push([Number(m[1]), raw.replace(/\\(.)/g, '$1')]);
  }
  if (entries.length === 0) return null;
  entries.sort(([a], [b]) => a - b);
  if (entries.some(([k], i) => k !== i)) return null; // ids must be 0..n-1 to be a category map
  return entries.map(([, name]) => name);
}

/** Reads ultralytics' metadata props; returns null when the file has none of them. */
export function readUltralyticsMetadata(model: onnx.IModelProto): UltralyticsMetadata | null {
  const props = new Map((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
  const meta: UltralyticsMetadata = {};
  const names = props.get('names');
  if (names !== undefined) meta.names = parseNames(names) ?? undefined;
  const imgsz = props.get('imgsz');
  if (imgsz !== undefined) {
    const dims = (imgsz.match(/\d+/g) ?? []).map(Number);
    if (dims.length === 1) meta.imgsz = [dims[0], dims[0]];
    else if (dims.length === 2) meta.imgsz = [dims[0], dims[1]];
  }
  const stride = Number(props.get('stride'));
  if (Number.isFinite(stride) && stride > 0) meta.stride = stride;
  const task = props.get('task');
  if (task) meta.task = task;
  return Object.keys(meta).length > 0 ? meta : null;
}
