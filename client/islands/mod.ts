/** Every island by the name `Island` records and `main.tsx` hydrates. */
import { AuthGate } from "./AuthGate.tsx";
import { Composer } from "./Composer.tsx";
import { Dialogs } from "./Dialogs.tsx";
import { Header } from "./Header.tsx";
import { Members } from "./Members.tsx";
import { Notices } from "./Notices.tsx";
import { RoomList } from "./RoomList.tsx";
import { RoomSettings } from "./RoomSettings.tsx";
import { Status } from "./Status.tsx";
import { Thread } from "./Thread.tsx";
import { Timeline } from "./Timeline.tsx";
import { TypingLine } from "./TypingLine.tsx";
import { UserCard } from "./UserCard.tsx";

export const islands = {
  AuthGate,
  Composer,
  Dialogs,
  Header,
  Members,
  Notices,
  RoomList,
  RoomSettings,
  Status,
  Thread,
  Timeline,
  TypingLine,
  UserCard,
};

export type IslandName = keyof typeof islands;
