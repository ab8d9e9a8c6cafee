"""The WinRT stream interfaces and the DataReader / DataWriter over them."""
