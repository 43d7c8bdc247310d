import { type ComponentType, h } from "preact";

interface IslandProps<P extends object> {
  /** The name `main.tsx` looks the component up by. */
  name: string;
  component: ComponentType<P>;
  props: P;
  class?: string;
}

/**
 * Server-renders `component` inside a wrapper that records its name and props,
 * so the browser can hydrate the same markup with the same props.
 */
export function Island<P extends object>({ name, component, props, class: cls }: IslandProps<P>) {
  return (
    <div data-island={name} data-props={JSON.stringify(props)} class={cls}>
      {h(component, props)}
    </div>
  );
}
