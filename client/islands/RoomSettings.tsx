import { useEffect, useState } from "preact/hooks";
import { LIMITS } from "../../protocol/limits.ts";
import type { Member, ModerationEvent, RoomInfo } from "../../protocol/messages.ts";
import { allowed, effectiveRole, type RoomRole } from "../../protocol/permissions.ts";
import { Avatar } from "../components/Avatar.tsx";
import { can, grantableRoles, mayModerate, roomLabel, untilText } from "../lib/access.ts";
import {
  ban,
  deleteRoom,
  fetchMembers,
  fetchModlog,
  inviteByName,
  kick,
  type MembersReply,
  mute,
  openDm,
  type RoomMember,
  setRole,
  unban,
  unmute,
  updateRoom,
} from "../lib/app.ts";
import { BAN_DURATIONS, moderationText, MUTE_DURATIONS } from "../lib/moderation.ts";
import {
  currentRoom,
  features,
  identity,
  roomInfo,
  roomView,
  serverRole,
  settingsOpen,
  standingOf,
} from "../lib/state.ts";

const KIND_LABEL: Record<RoomInfo["kind"], string> = {
  public: "Public room",
  private: "Private room",
  announcement: "Announcement room",
  dm: "Direct message",
};

const ROLE_LABEL: Record<RoomRole, string> = {
  owner: "Owner",
  moderator: "Moderator",
  member: "Member",
};

/**
 * The current room's settings: members and their roles, invitations, kicks, bans and
 * mutes, title and topic, deletion and the moderation log. Every control the user may
 * not use is left out (the same table the server checks); what the server still
 * refuses is shown in its words.
 */
export function RoomSettings() {
  const room = currentRoom.value;
  const info = roomInfo(room);
  if (!settingsOpen.value || !info) return null;
  return (
    <div class="overlay settings-overlay">
      <button
        type="button"
        class="overlay-backdrop"
        aria-label="Close settings"
        onClick={close}
      />
      <SettingsPanel key={info.name} info={info} />
    </div>
  );
}

function close(): void {
  settingsOpen.value = false;
}

function SettingsPanel({ info }: { info: RoomInfo }) {
  const me = identity.value;
  const standing = standingOf(info);
  const myRole = standing && effectiveRole(standing);
  const view = roomView(info.name);
  const events = view.events.value;
  const online = view.presence.value;
  const [data, setData] = useState<MembersReply | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const reload = async () => {
    try {
      setData(await fetchMembers(info.name));
      setLoadError(null);
    } catch (err) {
      setLoadError((err as Error).message);
    }
  };
  // Again whenever moderation or presence changes what the list shows.
  useEffect(() => {
    reload();
  }, [info.name, events.length, online.length, info.role]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") close();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);

  /** Run one action; the list reloads after it, and a refusal shows the server's message. */
  const act = async (fn: () => Promise<unknown>, again = true): Promise<boolean> => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      if (again) await reload();
      return true;
    } catch (err) {
      setError((err as Error).message);
      return false;
    } finally {
      setBusy(false);
    }
  };

  const mayDm = features.value.directMessages && serverRole.value !== null &&
    allowed("dm.open", { server: serverRole.value, kind: "dm", room: null });
  const members = [...(data?.members ?? [])].sort(byRoleThenName);
  return (
    <div
      class="settings-panel"
      role="dialog"
      aria-modal="true"
      aria-labelledby="settings-title"
      data-testid="settings-panel"
    >
      {/* Not a <header>: outside <main> that would be a second banner landmark. */}
      <div class="settings-head">
        <div>
          <h2 id="settings-title">{roomLabel(info, me)}</h2>
          <p class="muted">
            {KIND_LABEL[info.kind]}
            {info.kind !== "dm" && ` · #${info.name}`}
            {myRole && ` · you are ${ROLE_LABEL[myRole].toLowerCase()}`}
          </p>
        </div>
        <button
          type="button"
          class="link-button"
          aria-label="Close settings"
          data-testid="settings-close"
          onClick={close}
        >
          ×
        </button>
      </div>
      {error && <p class="form-error" role="alert" data-testid="settings-error">{error}</p>}

      {can("room.update", standing) && <DetailsForm info={info} busy={busy} act={act} />}
      {!can("room.update", standing) && info.topic && <p class="settings-topic">{info.topic}</p>}

      {can("invite", standing) && <InviteForm room={info.name} busy={busy} act={act} />}

      <section class="settings-section">
        <h3>Members{data ? ` — ${members.length}` : ""}</h3>
        {loadError && <p class="form-error" role="alert">{loadError}</p>}
        {!data && !loadError && <p class="muted">Loading…</p>}
        <ul class="settings-members">
          {members.map((m) => (
            <MemberRow
              key={m.user.id}
              room={info.name}
              member={m}
              me={me}
              mayDm={mayDm}
              standing={standing}
              busy={busy}
              act={act}
            />
          ))}
        </ul>
      </section>

      {data?.invited && data.invited.length > 0 && (
        <section class="settings-section">
          <h3>Invited</h3>
          <ul class="plain-list" data-testid="invited-list">
            {data.invited.map((u) => <li key={u.id} data-testid="invited">{u.name}</li>)}
          </ul>
        </section>
      )}

      {data?.bans && data.bans.length > 0 && (
        <section class="settings-section">
          <h3>Banned</h3>
          <ul class="plain-list">
            {data.bans.map((b) => (
              <li key={b.user.id} class="ban-row" data-testid="ban-row" data-name={b.user.name}>
                <span>
                  <strong>{b.user.name}</strong>{" "}
                  <span class="muted">
                    {b.until === null ? "for ever" : `until ${untilText(b.until, Date.now())}`}
                    {` · by ${b.by.name}`}
                    {b.reason && ` · ${b.reason}`}
                  </span>
                </span>
                {can("ban", standing) && (
                  <button
                    type="button"
                    class="small secondary"
                    data-testid="ban-unban"
                    disabled={busy}
                    onClick={() =>
                      act(() => unban(info.name, b.user.id))}
                  >
                    Unban
                  </button>
                )}
              </li>
            ))}
          </ul>
        </section>
      )}

      {can("modlog.read", standing) && <ModLog room={info.name} me={me} live={events.length} />}

      {can("room.delete", standing) && <DeleteRoom info={info} me={me} act={act} busy={busy} />}
    </div>
  );
}

type Act = (fn: () => Promise<unknown>, again?: boolean) => Promise<boolean>;

function DetailsForm({ info, busy, act }: { info: RoomInfo; busy: boolean; act: Act }) {
  const [title, setTitle] = useState(info.title);
  const [topic, setTopic] = useState(info.topic);
  const [receipts, setReceipts] = useState(info.receipts);
  const [saved, setSaved] = useState(false);
  const changed = title !== info.title || topic !== info.topic || receipts !== info.receipts;
  const save = async (e: Event) => {
    e.preventDefault();
    setSaved(false);
    const patch = {
      ...(title !== info.title ? { title: title.trim() } : {}),
      ...(topic !== info.topic ? { topic: topic.trim() } : {}),
      ...(receipts !== info.receipts ? { receipts } : {}),
    };
    if (await act(() => updateRoom(info.name, patch))) setSaved(true);
  };
  return (
    <form class="settings-section" onSubmit={save} data-testid="settings-details">
      <h3>Details</h3>
      {info.kind !== "dm" && (
        <label class="field">
          <span>Title</span>
          <input
            data-testid="settings-title"
            maxLength={LIMITS.displayNameChars}
            placeholder={info.name}
            value={title}
            onInput={(e) => {
              setTitle(e.currentTarget.value);
              setSaved(false);
            }}
          />
        </label>
      )}
      <label class="field">
        <span>Topic</span>
        <input
          data-testid="settings-topic"
          maxLength={LIMITS.topicChars}
          value={topic}
          onInput={(e) => {
            setTopic(e.currentTarget.value);
            setSaved(false);
          }}
        />
      </label>
      {features.value.receipts && (
        <label class="check">
          <input
            type="checkbox"
            data-testid="settings-receipts"
            checked={receipts}
            onChange={(e) => {
              setReceipts(e.currentTarget.checked);
              setSaved(false);
            }}
          />
          Show read receipts
        </label>
      )}
      <div class="form-actions">
        <button type="submit" data-testid="settings-save" disabled={busy || !changed}>
          Save
        </button>
        {saved && <span class="ok-text" role="status">Saved.</span>}
      </div>
    </form>
  );
}

function InviteForm({ room, busy, act }: { room: string; busy: boolean; act: Act }) {
  const [name, setName] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const wanted = name.trim();
    if (wanted === "") return;
    setDone(null);
    await act(async () => {
      const invited = await inviteByName(room, wanted);
      setDone(`Invited ${invited.name}.`);
      setName("");
    });
  };
  return (
    <form class="settings-section" onSubmit={submit}>
      <h3>Invite</h3>
      <div class="input-row">
        <input
          data-testid="invite-input"
          aria-label="Username to invite"
          placeholder="Username"
          autocomplete="off"
          autocapitalize="none"
          spellcheck={false}
          maxLength={LIMITS.displayNameChars}
          value={name}
          onInput={(e) => {
            setName(e.currentTarget.value);
            setDone(null);
          }}
        />
        <button type="submit" data-testid="invite-submit" disabled={busy || name.trim() === ""}>
          Invite
        </button>
      </div>
      {done && <p class="ok-text" role="status" data-testid="invite-result">{done}</p>}
    </form>
  );
}

interface MemberRowProps {
  room: string;
  member: RoomMember;
  me: Member | null;
  mayDm: boolean;
  standing: ReturnType<typeof standingOf>;
  busy: boolean;
  act: Act;
}

function MemberRow({ room, member, me, mayDm, standing, busy, act }: MemberRowProps) {
  const { user, role } = member;
  const self = user.id === me?.id;
  const now = Date.now();
  const muted = member.mutedUntil !== undefined && member.mutedUntil > now;
  const grants = self ? [] : grantableRoles(standing, role);
  const mayKick = !self && mayModerate("kick", standing, role);
  const mayBan = !self && mayModerate("ban", standing, role);
  const mayMute = !self && mayModerate("mute", standing, role);
  const [muteFor, setMuteFor] = useState(String(MUTE_DURATIONS[1]!.minutes));
  const [banFor, setBanFor] = useState("forever");
  return (
    <li
      class="settings-member"
      data-testid="settings-member"
      data-uid={user.id}
      data-name={user.name}
    >
      <div class="settings-member-head">
        <Avatar user={user} small />
        <span class={member.online ? "presence-dot online" : "presence-dot"} />
        <strong class="member-name">{user.name}</strong>
        {self && <span class="you">you</span>}
        <span class={`role-badge role-${role}`} data-testid="member-role">
          {ROLE_LABEL[role]}
        </span>
      </div>
      {muted && (
        <p class="muted small" data-testid="member-muted">
          Muted until {untilText(member.mutedUntil!, now)}
        </p>
      )}
      {!self && (
        <div class="member-actions">
          {mayDm && (
            <button
              type="button"
              class="small secondary"
              data-testid="member-dm"
              disabled={busy}
              onClick={() => act(() => openDm(user).then(close), false)}
            >
              Message
            </button>
          )}
          {grants.length > 0 && (
            <select
              data-testid="member-role-select"
              aria-label={`Role of ${user.name}`}
              value={role}
              disabled={busy}
              onChange={(e) => {
                const next = e.currentTarget.value as RoomRole;
                if (next !== role) act(() => setRole(room, user.id, next));
              }}
            >
              <option value={role}>{ROLE_LABEL[role]}</option>
              {grants.map((g) => <option key={g} value={g}>{ROLE_LABEL[g]}</option>)}
            </select>
          )}
          {mayKick && (
            <button
              type="button"
              class="small secondary"
              data-testid="member-kick"
              disabled={busy}
              onClick={() => act(() => kick(room, user.id))}
            >
              Kick
            </button>
          )}
          {mayMute && muted && (
            <button
              type="button"
              class="small secondary"
              data-testid="member-unmute"
              disabled={busy}
              onClick={() => act(() => unmute(room, user.id))}
            >
              Unmute
            </button>
          )}
          {mayMute && !muted && (
            <span class="joined-control">
              <select
                data-testid="member-mute-duration"
                aria-label={`Mute ${user.name} for`}
                value={muteFor}
                onChange={(e) => setMuteFor(e.currentTarget.value)}
              >
                {MUTE_DURATIONS.map((d) => (
                  <option key={d.label} value={d.minutes}>{d.label}</option>
                ))}
              </select>
              <button
                type="button"
                class="small secondary"
                data-testid="member-mute"
                disabled={busy}
                onClick={() => act(() => mute(room, user.id, Number(muteFor)))}
              >
                Mute
              </button>
            </span>
          )}
          {mayBan && (
            <span class="joined-control">
              <select
                data-testid="member-ban-duration"
                aria-label={`Ban ${user.name} for`}
                value={banFor}
                onChange={(e) => setBanFor(e.currentTarget.value)}
              >
                {BAN_DURATIONS.map((d) => (
                  <option key={d.label} value={d.minutes ?? "forever"}>{d.label}</option>
                ))}
              </select>
              <button
                type="button"
                class="small danger"
                data-testid="member-ban"
                disabled={busy}
                onClick={() =>
                  act(() => ban(room, user.id, banFor === "forever" ? undefined : Number(banFor)))}
              >
                Ban
              </button>
            </span>
          )}
        </div>
      )}
    </li>
  );
}

/** The room's moderation log, newest first, paged back on request. */
function ModLog({ room, me, live }: { room: string; me: Member | null; live: number }) {
  const [open, setOpen] = useState(false);
  const [entries, setEntries] = useState<ModerationEvent[]>([]);
  const [hasMore, setHasMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const load = async (before?: number) => {
    try {
      const page = await fetchModlog(room, before);
      // Newest first, whatever order the page came in; pages may overlap at the edge.
      setEntries((held) => {
        const byId = new Map([...(before === undefined ? [] : held), ...page.entries].map((e) => [
          e.id,
          e,
        ]));
        return [...byId.values()].sort((a, b) => b.ts - a.ts);
      });
      setHasMore(page.hasMore);
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  // Open: load, and load again when something happens in the room.
  useEffect(() => {
    if (open) load();
  }, [open, live]);
  return (
    <section class="settings-section">
      <h3>
        <button
          type="button"
          class="link-button"
          aria-expanded={open}
          data-testid="modlog-toggle"
          onClick={() => setOpen(!open)}
        >
          {open ? "Hide moderation log" : "Show moderation log"}
        </button>
      </h3>
      {open && (
        <>
          {error && <p class="form-error" role="alert">{error}</p>}
          {entries.length === 0 && !error && <p class="muted">Nothing yet.</p>}
          <ol class="plain-list modlog">
            {entries.map((e) => (
              <li key={e.id} data-testid="modlog-entry">
                <span>{moderationText(e, me)}</span>{" "}
                <time class="muted small" dateTime={new Date(e.ts).toISOString()}>
                  {untilText(e.ts, Date.now())}
                </time>
              </li>
            ))}
          </ol>
          {hasMore && (
            <button
              type="button"
              class="small secondary"
              data-testid="modlog-more"
              onClick={() => load(entries.at(-1)?.ts)}
            >
              Older entries
            </button>
          )}
        </>
      )}
    </section>
  );
}

function DeleteRoom(
  { info, me, act, busy }: { info: RoomInfo; me: Member | null; act: Act; busy: boolean },
) {
  const [confirming, setConfirming] = useState(false);
  const label = roomLabel(info, me);
  return (
    <section class="settings-section danger-zone">
      <h3>Delete</h3>
      {!confirming
        ? (
          <button
            type="button"
            class="danger"
            data-testid="room-delete"
            disabled={busy}
            onClick={() => setConfirming(true)}
          >
            Delete room
          </button>
        )
        : (
          <div class="confirm">
            <p>
              Delete {info.kind === "dm" ? label : `#${label}`} and all its messages for everyone?
            </p>
            <div class="form-actions">
              <button
                type="button"
                class="danger"
                data-testid="room-delete-confirm"
                disabled={busy}
                onClick={() => act(() => deleteRoom(info.name).then(close), false)}
              >
                Delete for everyone
              </button>
              <button type="button" class="secondary" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </div>
          </div>
        )}
    </section>
  );
}

const RANK: Record<RoomRole, number> = { owner: 0, moderator: 1, member: 2 };

function byRoleThenName(a: RoomMember, b: RoomMember): number {
  return RANK[a.role] - RANK[b.role] || a.user.name.localeCompare(b.user.name);
}
