import { BroadcastChannelBus } from "../server/bus/broadcast_channel.ts";
import { LocalBroker } from "../server/bus/local.ts";
import { busContract } from "./bus_contract.ts";

busContract("local", () => {
  const broker = new LocalBroker();
  return { a: broker.connect(), b: broker.connect() };
});

busContract("BroadcastChannel", () => {
  const channel = `parley-test-${crypto.randomUUID()}`;
  return {
    a: new BroadcastChannelBus(undefined, channel),
    b: new BroadcastChannelBus(undefined, channel),
  };
});
