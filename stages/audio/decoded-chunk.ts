// What every decoder yields: planar float samples at the file's rate, and where in the file they
// came from (so an error can name a byte offset).
export interface DecodedChunk {
  channels: Float32Array[];
  sampleRate: number;
  byteOffset: number;
}
