import { dialog } from "../lib/state.ts";
import { DirectoryDialog } from "./Directory.tsx";
import { DmPickerDialog } from "./DmPicker.tsx";
import { NewRoomDialog } from "./NewRoom.tsx";
import { SearchDialog } from "./Search.tsx";

/** Whichever dialog is open over the page (`dialog`): new room, directory, new message, search. */
export function Dialogs() {
  switch (dialog.value) {
    case "new-room":
      return <NewRoomDialog />;
    case "directory":
      return <DirectoryDialog />;
    case "new-dm":
      return <DmPickerDialog />;
    case "search":
      return <SearchDialog />;
    default:
      return null;
  }
}
