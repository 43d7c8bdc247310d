/** Every island by the name `Island` records and `main.tsx` hydrates. */
import { Composer } from "./Composer.tsx";
import { Header } from "./Header.tsx";
import { Members } from "./Members.tsx";
import { NameGate } from "./NameGate.tsx";
import { RoomList } from "./RoomList.tsx";
import { Status } from "./Status.tsx";
import { Timeline } from "./Timeline.tsx";
import { TypingLine } from "./TypingLine.tsx";

export const islands = {
  Composer,
  Header,
  Members,
  NameGate,
  RoomList,
  Status,
  Timeline,
  TypingLine,
};

export type IslandName = keyof typeof islands;
