// A `with:` key that a pipeline passes from a param whose default is null (`device:
// ${train.device}`): null means "not set", exactly as leaving the key out, so the key of a stage
// that never sets it stays the same either way.
import * as v from 'valibot';

/** `schema`, or absent when the value is missing or null. */
export function unsetWhenNull<S extends v.GenericSchema>(schema: S) {
  return v.optional(
    v.pipe(
      v.nullable(schema),
      v.transform((value) => (value === null ? undefined : value)),
    ),
  );
}
