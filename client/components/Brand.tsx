/** The server's name, with its logo when it has one (branding). */
export function Brand({ title, logo }: { title: string; logo?: string }) {
  return (
    <span class="brand" data-testid="brand">
      {logo && <img class="brand-logo" src={logo} alt={`${title} logo`} data-testid="brand-logo" />}
      <span class="brand-title" data-testid="brand-title">{title}</span>
    </span>
  );
}
