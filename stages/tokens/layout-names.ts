// The names of the token layouts (layout-registry.ts builds them). On their own so that a params
// schema or a contract can check a name without loading the layouts themselves.
export const LAYOUT_NAMES = ['gpt2o', 'offset'] as const;
export type LayoutName = (typeof LAYOUT_NAMES)[number];
