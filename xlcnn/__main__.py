"""``python -m xlcnn`` runs the command-line tool."""

from xlcnn.cli import main

if __name__ == "__main__":
    main()
