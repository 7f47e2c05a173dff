"""How people say it, per activity: "for your running", "new for runners", "you ran", "three runs"."""

DOING = {"run": "running", "walk": "walking", "hike": "hiking", "cycle": "cycling", "swim": "swimming",
         "row": "rowing", "strength": "strength training", "yoga": "yoga"}
PEOPLE = {"run": "runners", "walk": "walkers", "hike": "hikers", "cycle": "cyclists", "swim": "swimmers",
          "row": "rowers", "strength": "strength training", "yoga": "yoga"}
DID = {"run": "ran", "walk": "walked", "hike": "hiked", "cycle": "cycled", "swim": "swam", "row": "rowed",
       "strength": "did strength training", "yoga": "did yoga"}
SESSIONS = {"run": "runs", "walk": "walks", "hike": "hikes", "cycle": "rides", "swim": "swims", "row": "rows",
            "strength": "strength sessions", "yoga": "yoga sessions"}
